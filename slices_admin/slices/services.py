"""Changing slices for the pages, the API and the jobs alike: create, update, patch, read-through, refresh and queuing a
sync; each change goes to Kodexa, then to the cache and the audit log in one transaction (audited alone if it fails)."""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, record_attempt
from slices_admin.kodexa import errors
from slices_admin.kodexa.client import Answer, get_client
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, Resource, outside_contract
from slices_admin.kodexa.schemas import InvalidRecord, parse_record, to_wire, validate_input

from .cache import cache_record, cached_record, record_id
from .models import MODELS, SliceRecord, SyncRun
from .tasks import run_sync

logger = logging.getLogger(__name__)

Action, Outcome = AuditEntry.Action, AuditEntry.Outcome


@dataclass(frozen=True, slots=True)
class FreshestCopy:
    """The newest known version of a record, and where it came from."""

    record: dict[str, Any]
    from_cache: bool = False
    cached_at: datetime | None = None
    problem: str = ""


# --- reads ----------------------------------------------------------------------------------------------------------
def read_freshest(
    resource: Resource,
    remote_id: str,
    *,
    request_id: str = "",
    fall_back_on: tuple[type[errors.KodexaError], ...] = (errors.KodexaNotFound, errors.KodexaNotSupported),
) -> FreshestCopy:
    """Read the record from Kodexa (refreshing the cache); use the cached copy when the read fails with one of
    `fall_back_on` (by default: a deployment without a read endpoint) and a cached copy exists."""
    try:
        return FreshestCopy(record=_read_into_cache(resource, remote_id, request_id))
    except fall_back_on as exc:
        row = MODELS[resource].objects.filter(id=remote_id).first()
        if row is None:
            raise
        return FreshestCopy(record=row.raw, from_cache=True, cached_at=row.last_seen_at, problem=exc.message)


def refresh_slice(
    resource: Resource, remote_id: str, *, context: AuditContext
) -> tuple[SliceRecord, list[dict[str, Any]]]:
    """Read one record from Kodexa into the cache; returns the row and what changed, and audits the refresh.

    A record Kodexa no longer has is flagged as gone (kept, never deleted) and the NotFound raised."""
    before = cached_record(resource, remote_id)
    audit: dict[str, Any] = {"action": Action.REFRESH, "remote_id": remote_id, "before": before}
    try:
        answer = get_client().get(resource, remote_id, request_id=context.request_id)
    except errors.KodexaError as exc:
        with transaction.atomic():
            if isinstance(exc, errors.KodexaNotFound):
                MODELS[resource].objects.filter(id=remote_id, gone_at__isnull=True).update(gone_at=timezone.now())
            _audit_failure(context, resource=resource, body=None, exc=exc, **audit)
        raise
    with transaction.atomic():
        row = cache_record(resource, answer.body)
        entry = record_attempt(
            context,
            outcome=Outcome.SUCCEEDED,
            resource=resource.path,
            response_status=answer.status,
            response_body=answer.body,
            after=answer.body,
            duration_ms=answer.duration_ms,
            **audit,
        )
    return row, entry.diff


def _read_into_cache(resource: Resource, remote_id: str, request_id: str) -> dict[str, Any]:
    """GET one record from Kodexa and cache it; returns Kodexa's answer."""
    answer = get_client().get(resource, remote_id, request_id=request_id)
    cache_record(resource, answer.body)
    return answer.body


# --- changes --------------------------------------------------------------------------------------------------------
def _outcome_of(exc: errors.KodexaError) -> str:
    if isinstance(exc, errors.KodexaConflict):
        return Outcome.CONFLICT
    if isinstance(exc, errors.KodexaValidationError | errors.KodexaNotFound | errors.KodexaNotSupported):
        return Outcome.REJECTED
    return Outcome.FAILED


def _audit_failure(
    context: AuditContext,
    *,
    action: str,
    resource: Resource,
    remote_id: str,
    body: Mapping[str, Any] | None,
    before: Mapping[str, Any] | None,
    exc: errors.KodexaError,
) -> None:
    record_attempt(
        context,
        action=action,
        outcome=_outcome_of(exc),
        resource=resource.path,
        remote_id=remote_id,
        request_body=body,
        response_status=exc.status,
        response_body=exc.body,
        error=f"{exc.message} {exc.advice}",
        before=before,
        duration_ms=exc.duration_ms,
    )


def _send_change(
    context: AuditContext,
    *,
    action: str,
    resource: Resource,
    remote_id: str,
    body: dict[str, Any],
    before: dict[str, Any] | None,
    send: Callable[[], Answer],
) -> SliceRecord:
    try:
        answer = send()
        record_id(answer.body)
    except errors.KodexaConflict as exc:
        exc.current = _current_version(resource, remote_id, context.request_id) if remote_id else None
        if exc.attempts > 1 and exc.current is not None and same_record(resource, exc.current, body):
            # A retried PUT whose first try was applied: the 409 is about our own change, which Kodexa holds.
            answer = Answer(status=200, body=exc.current, duration_ms=exc.duration_ms or 0)
        else:
            _audit_failure(
                context, action=action, resource=resource, remote_id=remote_id, body=body, before=before, exc=exc
            )
            raise
    except errors.KodexaError as exc:
        if resource is ORCHESTRATOR_SLICE:
            explain_unknown_field_refusal(exc, body)
        _audit_failure(
            context, action=action, resource=resource, remote_id=remote_id, body=body, before=before, exc=exc
        )
        raise
    success = {
        "action": action,
        "outcome": Outcome.SUCCEEDED,
        "resource": resource.path,
        "request_body": body,
        "response_status": answer.status,
        "response_body": answer.body,
        "before": before,
        "after": answer.body,
        "duration_ms": answer.duration_ms,
    }
    try:
        with transaction.atomic():
            row = cache_record(resource, answer.body)
            record_attempt(context, remote_id=row.id, **success)
    except Exception as exc:
        # Kodexa applied the change; the attempt must be on record even if the cache could not take the answer.
        logger.exception("caching Kodexa's answer for %s %s failed", resource.label, remote_id)
        error = f"Kodexa applied the change, but the console could not cache its answer ({type(exc).__name__})."
        record_attempt(context, remote_id=answer.body.get("id", remote_id), error=error, **success)
        raise
    return row


_SERVER_SET = {"changeSequence", "updatedOn"}


def same_record(resource: Resource, current: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    """Whether Kodexa's current record is the one we sent (apart from what the server sets on every write)."""
    now, ours = parse_record(resource, current)[0], parse_record(resource, sent)[0]
    ignored = {f.python_name for f in resource.fields if f.wire_name in _SERVER_SET}
    return all(now.get(name) == value for name, value in ours.items() if name not in ignored)


def _current_version(resource: Resource, remote_id: str, request_id: str) -> dict[str, Any] | None:
    """After a conflict: the record as Kodexa holds it now (and the cache refreshed with it), if readable."""
    try:
        return read_freshest(resource, remote_id, request_id=request_id).record
    except errors.KodexaError:
        return None


def replacement_body(current: Mapping[str, Any] | None, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a full-replacement PUT of an orchestrator slice: the record as Kodexa last gave it, with `changes`
    (wire names, contract fields only) on top. The fields Kodexa returned that the contract does not list go back
    unchanged (`KODEXA_PUT_UNKNOWN_FIELDS=keep`), so a PUT changes only what the person changed; with `drop`, the
    contract's fields alone are sent."""
    current = current or {}
    body = {name: current[name] for name in ORCHESTRATOR_SLICE.wire_names if name in current}
    body.update(changes)
    if settings.KODEXA_PUT_UNKNOWN_FIELDS == "keep":
        body.update(outside_contract(ORCHESTRATOR_SLICE, current))
    return body


def explain_unknown_field_refusal(exc: errors.KodexaError, body: Mapping[str, Any] | None) -> None:
    """A 400 that names a field this console sent back only because Kodexa returned it: say so, and which setting
    stops it (the message reaches the page, the API answer and the audit entry)."""
    if not isinstance(exc, errors.KodexaValidationError) or not body:
        return
    refused = sorted(set(exc.field_errors) & set(outside_contract(ORCHESTRATOR_SLICE, body)))
    if refused:
        names = ", ".join(refused)
        exc.advice = (
            f"Kodexa refused {names}: a field Kodexa itself returned with this record, which the console does not "
            "know and sent back unchanged so that replacing the record loses nothing. This deployment's PUT refuses "
            "fields outside its contract: an administrator can set KODEXA_PUT_UNKNOWN_FIELDS=drop to send the "
            "contract's fields alone (Kodexa may then drop those fields)."
        )


def create_execution_slice(values: Mapping[str, Any], *, context: AuditContext) -> SliceRecord:
    """POST a new ExecutionSlice built from validated snake_case `values` (any subset of the fields)."""
    body = to_wire(EXECUTION_SLICE, values)
    client = get_client()
    return _send_change(
        context,
        action=Action.CREATE,
        resource=EXECUTION_SLICE,
        remote_id=body.get("id", ""),
        body=body,
        before=None,
        send=lambda: client.create(EXECUTION_SLICE, body, request_id=context.request_id),
    )


def update_orchestrator_slice(remote_id: str, values: Mapping[str, Any], *, context: AuditContext) -> SliceRecord:
    """PUT the whole record: `values` holds every contract field, with the `changeSequence` the user saw; fields
    outside the contract come from the cached copy (see `replacement_body`)."""
    body = replacement_body(cached_record(ORCHESTRATOR_SLICE, remote_id), to_wire(ORCHESTRATOR_SLICE, values))
    return _replace(remote_id, body, context=context, action=Action.UPDATE)


def _replace(remote_id: str, body: dict[str, Any], *, context: AuditContext, action: str) -> SliceRecord:
    if body.get("id") != remote_id:
        raise InvalidRecord({"id": [f"Must be the id of the slice being updated ({remote_id})."]})
    client = get_client()
    return _send_change(
        context,
        action=action,
        resource=ORCHESTRATOR_SLICE,
        remote_id=remote_id,
        body=body,
        before=cached_record(ORCHESTRATOR_SLICE, remote_id),
        send=lambda: client.replace(ORCHESTRATOR_SLICE, remote_id, body, request_id=context.request_id),
    )


def patch_orchestrator_slice(remote_id: str, changes: Mapping[str, Any], *, context: AuditContext) -> SliceRecord:
    """Merge `changes` onto the freshest copy and PUT the result with that copy's `changeSequence` (or the one in
    `changes`, when the caller says which version it saw). Fields not changed are sent exactly as Kodexa gave them."""
    try:
        current = read_freshest(ORCHESTRATOR_SLICE, remote_id, request_id=context.request_id).record
    except errors.KodexaError as exc:
        _audit_failure(
            context,
            action=Action.PATCH,
            resource=ORCHESTRATOR_SLICE,
            remote_id=remote_id,
            body=to_wire(ORCHESTRATOR_SLICE, changes),
            before=cached_record(ORCHESTRATOR_SLICE, remote_id),
            exc=exc,
        )
        raise
    body = replacement_body(current, to_wire(ORCHESTRATOR_SLICE, changes))
    try:
        validate_input(
            ORCHESTRATOR_SLICE, {k: v for k, v in body.items() if k in ORCHESTRATOR_SLICE.wire_names}, partial=False
        )
    except InvalidRecord as exc:
        raise InvalidRecord(
            {
                field: [f"{'; '.join(map(str, msgs))} (in the record merged with Kodexa's current copy)"]
                for field, msgs in exc.field_errors.items()
            }
        ) from exc
    return _replace(remote_id, body, context=context, action=Action.PATCH)


# --- sync -----------------------------------------------------------------------------------------------------------
def start_sync(resource: Resource, *, full: bool, requested_by: User | None = None) -> SyncRun:
    """Queue a background sync (`sync.perform_sync` in a worker), or return the one already queued or running for
    this resource."""
    with transaction.atomic():
        active = SyncRun.objects.filter(
            resource=resource.path, status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]
        ).first()
        if active:
            return active
        run = SyncRun.objects.create(
            resource=resource.path,
            mode=SyncRun.Mode.FULL if full else SyncRun.Mode.INCREMENTAL,
            requested_by=requested_by,
        )
        transaction.on_commit(lambda: run_sync.enqueue(run.pk))
    return run
