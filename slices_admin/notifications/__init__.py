"""Notifications: a bulk edit that ends, fails, pauses for a Kodexa outage or waits for approval is POSTed, signed,
to a webhook (BULK_WEBHOOK_URL) by the background workers, once per job and event. The bulk engine only records the
event; nothing here can delay or fail a job."""
