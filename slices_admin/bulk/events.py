"""What the bulk engine tells whoever wants to know about a job (the webhook notifications listen): each sent once,
at the place it happens, inside the engine's transaction when there is one. The engine does not know who listens."""

from django.dispatch import Signal

job_ended = Signal()  # job_id: the job finished or was cancelled
job_paused_by_outage = Signal()  # job_id, reason: Kodexa stopped answering and the job waits (its first outage only)
job_awaits_approval = Signal()  # job_id: a job was requested and waits for a second person's approval
