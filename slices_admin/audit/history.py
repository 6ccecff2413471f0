"""An object's audit history on the object's own page: newest first, in chunks that "Show older" appends in place.
The partial is the audit app's (`audit/history.html`); a page includes it with the context built here."""

from .models import AuditEntry
from .selectors import Cursor, keyset_page

CHUNK = 20
OLDER_ENTRIES = "audit/history.html#entries"  # the partial "Show older" appends
NEWEST = Cursor()


def object_history(resource: str, object_id: str, *, more_url: str, cursor: Cursor = NEWEST) -> dict:
    """The context of the partial: one chunk of the entries about `object_id` of `resource` (from `cursor`, newest
    first), `more_url`, which answers the next older chunk (`?before=<entry id>`), and the audit trail's filter for
    the whole history."""
    entries = AuditEntry.objects.filter(resource=resource, remote_id=object_id)
    return {
        "history": keyset_page(entries, cursor, CHUNK),
        "history_url": more_url,
        "history_resource": resource,
        "history_object": object_id,
    }
