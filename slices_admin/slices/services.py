"""Changing slices: every create, update, patch, read-through and sync goes through these functions.

The HTML views, the JSON API and background jobs call them alike. Each attempted change is sent to Kodexa through
the client, then written to the cache and the audit log in one transaction on success, or audited alone on failure.
"""

import functools
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from rest_framework.serializers import ValidationError

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, record_attempt
from slices_admin.kodexa import errors
from slices_admin.kodexa.client import Answer, get_client
from slices_admin.kodexa.contract import EXECUTION_SLICE, ORCHESTRATOR_SLICE, RESOURCES, Resource, outside_contract
from slices_admin.kodexa.schemas import parse_datetime, parse_record, to_wire, validate_input

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


# --- cache writes (only ever from Kodexa's answers) ----------------------------------------------------------------
def _row_values(resource: Resource, payload: Mapping[str, Any], seen_at: datetime) -> dict[str, Any]:
    values, _problems = parse_record(resource, payload)
    columns = {f.python_name: values.get(f.python_name) for f in resource.fields if f.python_name != "id"}
    return {
        **columns,
        "open_lease_expires_at": open_lease_expiry(columns),
        "raw": dict(payload),
        "last_seen_at": seen_at,
        "gone_at": None,
    }


def open_lease_expiry(columns: Mapping[str, Any]) -> datetime | None:
    """When the lease of a leased, unfinished slice runs out; None for any other slice."""
    if columns.get("leased_at") is None or columns.get("completed_at") is not None:
        return None
    return columns.get("lease_expires_at")


def _record_id(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise errors.KodexaProtocolError(None, "Kodexa answered without a JSON record.", body=payload)
    remote_id = payload.get("id")
    if not isinstance(remote_id, str) or not remote_id:
        raise errors.KodexaProtocolError(None, "Kodexa answered with a record that has no id.", body=payload)
    return remote_id


def cache_record(resource: Resource, payload: Mapping[str, Any]) -> SliceRecord:
    """Upsert one record Kodexa answered with (unless the cache already holds a newer version); returns the row."""
    cache_records(resource, [payload])
    return MODELS[resource].objects.get(id=_record_id(payload))


def cache_records(resource: Resource, payloads: Iterable[Mapping[str, Any]]) -> int:
    """Upsert many records in one statement (a sync page); the statement itself keeps a newer cached version.
    Returns how many records were read."""
    write = prepare_cache_write(resource, payloads)
    write.apply()
    return len(write.params)


@dataclass(slots=True)
class CacheWrite:
    """Records parsed and encoded for the cache's upsert, ready to run (the encoding needs no lock)."""

    model: type
    params: list[list[Any]]

    def apply(self) -> None:
        if self.params:
            sql = _upsert_statement(self.model, connection.vendor)[0]
            with connection.cursor() as cursor:
                cursor.executemany(sql, self.params)


def prepare_cache_write(resource: Resource, payloads: Iterable[Mapping[str, Any]]) -> CacheWrite:
    model, seen_at = MODELS[resource], timezone.now()
    by_id = {_record_id(p): p for p in payloads}
    rows = [{"id": remote_id, **_row_values(resource, payload, seen_at)} for remote_id, payload in by_id.items()]
    return CacheWrite(model, _upsert_params(model, rows))


def _upsert_params(model, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Rows as parameters of the upsert statement below, which writes many rows through one prepared statement
    and never replaces a row with an older `changeSequence` (the check is part of the statement, so concurrent
    writers cannot undo it).

    `bulk_create(update_conflicts=True)` does the same, but compiles SQL for every value of every row: measured,
    that compilation was two thirds of a sync's time. SQLite and PostgreSQL both speak this statement.
    """
    _sql, fields, as_json, as_time = _upsert_statement(model, connection.vendor)
    adapt_time = connection.ops.adapt_datetimefield_value

    def prepared(row: dict[str, Any]) -> list[Any]:
        values = []
        for field in fields:
            value = row.get(field.attname)
            if value is not None and field.attname in as_json:
                value = json.dumps(value, ensure_ascii=False)
            elif value is not None and field.attname in as_time:
                value = adapt_time(value)
            values.append(value)
        return values

    return [prepared(row) for row in rows]


@functools.cache
def _upsert_statement(model, vendor: str):
    quote, fields = connection.ops.quote_name, model._meta.concrete_fields
    as_json = {f.attname for f in fields if isinstance(f, models.JSONField)}
    as_time = {f.attname for f in fields if isinstance(f, models.DateTimeField)}
    json_placeholder = "%s::jsonb" if vendor == "postgresql" else "%s"
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(json_placeholder if f.attname in as_json else "%s" for f in fields)
    updates = ", ".join(f"{quote(f.column)} = excluded.{quote(f.column)}" for f in fields if not f.primary_key)
    table, version = quote(model._meta.db_table), quote("change_sequence")
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "  # noqa: S608 (names)
        f"ON CONFLICT ({quote(model._meta.pk.column)}) DO UPDATE SET {updates} "
        f"WHERE excluded.{version} IS NULL OR {table}.{version} IS NULL OR excluded.{version} >= {table}.{version}"
    )
    return sql, fields, as_json, as_time


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


def refresh_slice(resource: Resource, remote_id: str, *, context: AuditContext) -> tuple[SliceRecord, list[dict]]:
    """Read one record from Kodexa into the cache; returns the row and what changed, and audits the refresh.

    A record Kodexa no longer has is flagged as gone (kept, never deleted) and the NotFound raised."""
    before = cached_record(resource, remote_id)
    audit = {"action": Action.REFRESH, "remote_id": remote_id, "before": before}
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


def cached_record(resource: Resource, remote_id: str) -> dict[str, Any] | None:
    row = MODELS[resource].objects.filter(id=remote_id).only("raw").first()
    return row.raw if row else None


# --- changes --------------------------------------------------------------------------------------------------------
def _outcome_of(exc: errors.KodexaError) -> str:
    if isinstance(exc, errors.KodexaConflict):
        return Outcome.CONFLICT
    if isinstance(exc, errors.KodexaValidationError | errors.KodexaNotFound | errors.KodexaNotSupported):
        return Outcome.REJECTED
    return Outcome.FAILED


def _audit_failure(context, *, action, resource, remote_id, body, before, exc: errors.KodexaError) -> None:
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
        _record_id(answer.body)
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
        raise ValidationError({"id": [f"Must be the id of the slice being updated ({remote_id})."]})
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
    except ValidationError as exc:
        raise ValidationError(
            {
                field: [f"{'; '.join(map(str, msgs))} (in the record merged with Kodexa's current copy)"]
                for field, msgs in exc.detail.items()
            }
        ) from exc
    return _replace(remote_id, body, context=context, action=Action.PATCH)


# --- sync -----------------------------------------------------------------------------------------------------------
@dataclass
class SyncProgress:
    pages: int = 0
    records: int = 0
    expected: int | None = None
    gone: int = 0
    newest_seen: datetime | None = None


def _list_page(client, resource: Resource, number: int, size: int, sort: str):
    try:
        return client.list(resource, page=number, page_size=size, sort=sort)
    except (errors.KodexaNotFound, errors.KodexaNotSupported) as exc:
        raise errors.KodexaNotSupported(
            exc.status,
            f"This Kodexa deployment has no list endpoint for {resource.label} ({exc.message}). "
            "The cache fills from the console's own reads and writes instead.",
        ) from exc


def _updated_on(payload: Mapping[str, Any]) -> datetime | None:
    try:
        return parse_datetime(payload.get("updatedOn")).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a date-time with no UTC form
        return None


def sync_slices(
    resource: Resource,
    *,
    full: bool = False,
    since: datetime | None = None,
    page_size: int = 500,
    on_page: Callable[[SyncProgress], None] | None = None,
) -> SyncProgress:
    """Pull Kodexa's list endpoint page by page into the cache, upserting each page in one statement.

    Incremental (the default) reads newest `updatedOn` first and stops after the first page that reaches back to
    `since` (the newest record the previous sync read; everything when None). Full reads everything in creation
    order (stable while records change), then flags what Kodexa no longer returns as gone: each candidate is read
    once more, so a record that moved between pages is refreshed rather than flagged. Nothing is ever deleted.
    """
    client = get_client()
    started = timezone.now()
    sort = "createdOn,asc" if full else "updatedOn,desc"
    since = None if full else since
    progress = SyncProgress()
    while True:
        page = _list_page(client, resource, progress.pages + 1, page_size, sort)
        with transaction.atomic():
            progress.records += cache_records(resource, page.content)
        progress.pages += 1
        if progress.expected is None and since is None:
            progress.expected = page.total_elements
        stamps = [stamp for stamp in map(_updated_on, page.content) if stamp is not None]
        if stamps and (progress.newest_seen is None or max(stamps) > progress.newest_seen):
            progress.newest_seen = max(stamps)
        if on_page:
            on_page(progress)
        if page.last or not page.content:
            break
        if since is not None and any(stamp <= since for stamp in stamps):
            break
    if full:
        progress.gone = _flag_gone(resource, seen_since=started)
        if on_page:
            on_page(progress)
    return progress


def _flag_gone(resource: Resource, *, seen_since: datetime) -> int:
    """Confirm with a read each record the full listing did not return; flag the ones Kodexa does not have.

    A read that fails for a passing reason leaves the record unflagged: only Kodexa saying it is gone counts.
    """
    model, client, gone = MODELS[resource], get_client(), 0
    candidates = model.objects.filter(last_seen_at__lt=seen_since, gone_at__isnull=True)
    for remote_id in candidates.values_list("id", flat=True).iterator(chunk_size=1000):
        try:
            cache_record(resource, client.get(resource, remote_id).body)
        except (errors.KodexaNotFound, errors.KodexaNotSupported):  # 405: the listing is Kodexa's only word
            gone += model.objects.filter(id=remote_id).update(gone_at=timezone.now())
        except errors.KodexaUnavailable:
            logger.warning("sync: could not confirm whether %s %s is gone", resource.label, remote_id)
    return gone


def refresh_statistics(model) -> None:
    """Let the query planner learn the cache's shape after a sync changed it (SQLite keeps no statistics of its
    own; PostgreSQL's autovacuum would get there later)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA analysis_limit = 2000")
        cursor.execute(f"ANALYZE {table}")


def start_sync(resource: Resource, *, full: bool, requested_by=None) -> SyncRun:
    """Queue a background sync, or return the one already queued or running for this resource."""
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


def perform_sync(run: SyncRun, *, page_size: int = 500, context: AuditContext | None = None) -> SyncRun:
    """Carry out a recorded sync run, keeping its progress current for the page that watches it; the run is
    audited as one entry (who asked, what it read, how it ended)."""
    if context is None:
        context = AuditContext(actor=run.requested_by) if run.requested_by else AuditContext.system("sync")
    run.status, run.started_at = SyncRun.Status.RUNNING, timezone.now()
    run.save(update_fields=["status", "started_at"])

    def on_page(progress: SyncProgress) -> None:
        SyncRun.objects.filter(pk=run.pk).update(
            pages=progress.pages, records=progress.records, expected=progress.expected, gone=progress.gone
        )

    previous = (
        SyncRun.objects.filter(resource=run.resource, status=SyncRun.Status.SUCCEEDED, newest_seen__isnull=False)
        .exclude(pk=run.pk)
        .order_by("-newest_seen")
        .first()
    )
    try:
        progress = sync_slices(
            RESOURCES[run.resource],
            full=run.mode == SyncRun.Mode.FULL,
            since=previous.newest_seen if previous else None,
            page_size=page_size,
            on_page=on_page,
        )
    except errors.KodexaError as exc:
        status, error = SyncRun.Status.FAILED, f"{exc.message} {exc.advice}"
    except Exception:
        logger.exception("sync run %s failed", run.pk)
        status, error = SyncRun.Status.FAILED, "The sync failed unexpectedly; the server log has the details."
    else:
        status, error = SyncRun.Status.SUCCEEDED, ""
        SyncRun.objects.filter(pk=run.pk).update(newest_seen=progress.newest_seen)
        refresh_statistics(MODELS[RESOURCES[run.resource]])
    with transaction.atomic():
        SyncRun.objects.filter(pk=run.pk).update(status=status, error=error, finished_at=timezone.now())
        run.refresh_from_db()
        record_attempt(
            context,
            action=Action.SYNC,
            outcome=Outcome.SUCCEEDED if status == SyncRun.Status.SUCCEEDED else Outcome.FAILED,
            resource=run.resource,
            request_body={"mode": run.mode, "pageSize": page_size, "syncRun": run.pk},
            response_body={"pages": run.pages, "records": run.records, "expected": run.expected, "gone": run.gone},
            error=error,
            duration_ms=int((run.finished_at - run.started_at).total_seconds() * 1000),
        )
    return run
