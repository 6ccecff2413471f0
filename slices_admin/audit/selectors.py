"""Reading the audit log: newest-first keyset pages (no COUNT, however long the log), key-path diffs, chain checks."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.fields.json import KT

from . import chain
from .models import AuditEntry, search_text

NEWEST_FIRST = ("-occurred_at", "-id")
OLDEST_FIRST = ("occurred_at", "id")
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page starts: just older than entry `before`, just newer than entry `after`, the oldest page, or
    (all empty) the newest page. Entries are identified by id; their time is looked up by primary key."""

    before: int | None = None
    after: int | None = None
    last: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> "Cursor":
        def entry_id(name: str) -> int | None:
            value = params.get(name, "")
            return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None

        return cls(before=entry_id("before"), after=entry_id("after"), last=params.get("last") == "1")


@dataclass(slots=True)
class KeysetPage:
    entries: list[AuditEntry] = field(default_factory=list)
    has_newer: bool = False
    has_older: bool = False

    @property
    def newer_cursor(self) -> int | None:
        return self.entries[0].pk if self.has_newer and self.entries else None

    @property
    def older_cursor(self) -> int | None:
        return self.entries[-1].pk if self.has_older and self.entries else None


def page_size_from(params: Mapping[str, str], *, default: int = DEFAULT_PAGE_SIZE, most: int = 200) -> int:
    value = params.get("pageSize", "")
    if not (value.isascii() and value.isdigit() and 0 < len(value) < 7):
        return default
    return min(int(value), most) if int(value) > 0 else default


def _anchor(entry_id: int) -> datetime | None:
    return AuditEntry.objects.filter(pk=entry_id).values_list("occurred_at", flat=True).first()


def for_the_trail(queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
    """What a row of the audit trail shows: the records sent and received stay in the database (they are most of an
    entry's size), except the few values the table prints."""
    return queryset.defer("request_body", "response_body", "before", "after").annotate(
        role_before=KT("before__role"), role_after=KT("after__role"), synced_records=KT("response_body__records")
    )


def keyset_page(queryset: QuerySet[AuditEntry], cursor: Cursor, size: int = DEFAULT_PAGE_SIZE) -> KeysetPage:
    """One page of `queryset` newest first. Each query seeks straight to its place on an (…, occurred_at, id)
    index: the last page of a million entries costs what the first does."""
    if cursor.before is not None and (moment := _anchor(cursor.before)) is not None:
        older = queryset.filter(occurred_at__lte=moment).exclude(occurred_at=moment, id__gte=cursor.before)
        rows = list(older.order_by(*NEWEST_FIRST)[: size + 1])
        return KeysetPage(rows[:size], has_newer=True, has_older=len(rows) > size)
    if cursor.after is not None and (moment := _anchor(cursor.after)) is not None:
        newer = queryset.filter(occurred_at__gte=moment).exclude(occurred_at=moment, id__lte=cursor.after)
        rows = list(newer.order_by(*OLDEST_FIRST)[: size + 1])
        if len(rows) <= size:  # reached the newest entries: show the newest page, full
            return keyset_page(queryset, Cursor(), size)
        return KeysetPage(rows[:size][::-1], has_newer=True, has_older=True)
    if cursor.last:
        rows = list(queryset.order_by(*OLDEST_FIRST)[: size + 1])
        return KeysetPage(rows[:size][::-1], has_newer=len(rows) > size, has_older=False)
    rows = list(queryset.order_by(*NEWEST_FIRST)[: size + 1])
    return KeysetPage(rows[:size], has_newer=False, has_older=len(rows) > size)


_WHOLE_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-f]{32}")


def text_search(queryset: QuerySet[AuditEntry], text: str) -> QuerySet[AuditEntry]:
    """Entries mentioning `text` in who, which object, the error, the reason, the request id or the path. A whole
    slice id or request id (what people paste) is looked up exactly, on indexes, instead of read for in every
    entry: at a million entries that is milliseconds instead of seconds."""
    text = text.strip()
    if not text:
        return queryset
    if _WHOLE_ID.fullmatch(text):
        return queryset.filter(Q(remote_id=text) | Q(request_id=text))
    # One expression for the five texts: on PostgreSQL its trigram index finds the few entries a rare word is in
    # (a name misspelt, an error seen once) instead of reading all million to find none.
    return queryset.alias(search_text=search_text()).filter(Q(search_text__icontains=text) | Q(request_id=text))


# --- one entry --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KeyPathChange:
    path: str  # `status`, `metadata.retries[0].count`
    before: Any
    after: Any
    kind: str  # added | removed | changed

    @property
    def depth(self) -> int:
        return self.path.count(".") + self.path.count("[")


_MISSING = object()
DIFF_DEPTH = 64  # below this many levels, a changed subtree is one change (deep JSON cannot exhaust the stack)


def key_path_diff(before: Any, after: Any, path: str = "", depth: int = 0) -> list[KeyPathChange]:
    """Every difference between two JSON values, down to the key path where it happens (objects by key, lists
    by index), in key order; to DIFF_DEPTH levels."""
    if depth < DIFF_DEPTH and isinstance(before, dict) and isinstance(after, dict):
        changes = []
        for key in sorted(set(before) | set(after), key=str):
            sub = f"{path}.{key}" if path else str(key)
            changes += key_path_diff(before.get(key, _MISSING), after.get(key, _MISSING), sub, depth + 1)
        return changes
    if depth < DIFF_DEPTH and isinstance(before, list) and isinstance(after, list):
        changes = []
        for index in range(max(len(before), len(after))):
            old = before[index] if index < len(before) else _MISSING
            new = after[index] if index < len(after) else _MISSING
            changes += key_path_diff(old, new, f"{path}[{index}]", depth + 1)
        return changes
    if before is _MISSING:
        return [KeyPathChange(path, None, after, "added")]
    if after is _MISSING:
        return [KeyPathChange(path, before, None, "removed")]
    if before != after or type(before) is not type(after):
        return [KeyPathChange(path, before, after, "changed")]
    return []


@dataclass(frozen=True, slots=True)
class RecordField:
    name: str
    before: Any
    after: Any
    changed: bool


def record_fields(entry: AuditEntry) -> list[RecordField]:
    """The whole record, before beside after, for entries that carry both snapshots (or either)."""
    both = entry.before is not None and entry.after is not None
    before, after = entry.before or {}, entry.after or {}
    names = list(after) + [name for name in before if name not in after]
    return [RecordField(n, before.get(n), after.get(n), both and before.get(n) != after.get(n)) for n in names]


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What an entry's own hash and its link to its predecessor say, checked when the page is shown."""

    content_intact: bool
    link_intact: bool
    predecessor_id: int | None


def check_entry(entry: AuditEntry) -> ChainCheck:
    fields = {f.attname: f for f in AuditEntry._meta.concrete_fields}
    values = {name: chain.prepared(fields[name], getattr(entry, name)) for name in chain.CURRENT_FIELDS}
    predecessor = AuditEntry.objects.filter(id__lt=entry.pk).order_by("-id").values_list("id", "entry_hash").first()
    expected_link = predecessor[1] if predecessor else chain.GENESIS
    return ChainCheck(
        content_intact=chain.entry_hash(values) == entry.entry_hash,
        link_intact=entry.prev_hash == expected_link,
        predecessor_id=predecessor[0] if predecessor else None,
    )
