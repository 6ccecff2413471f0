"""List requests: the page, size, sort, filter and query parameters read into a `PageQuery`, and the page object
written around the stored records. What the store answers for a query is the store's business."""

import json
import re
from http import HTTPStatus

from slices_admin.kodexa.contract import INT32_MAX
from slices_admin.sandbox.messages import ApiError, Request
from slices_admin.sandbox.store import SORT_FIELDS, PageQuery

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 20
DEFAULT_SORT = "createdOn,desc"

_FILTER_CLAUSE = re.compile(r"\s*(?P<field>[A-Za-z][\w.]*)(?:\s+eq\s+|\s*:\s*)'(?P<value>(?:[^']|'')*)'\s*")
_FILTER_AND = re.compile(r"and\s", re.IGNORECASE)
_FILTER_ALIASES = {
    "organization.id": "organizationId",
    "pipelineExecution.id": "pipelineExecutionId",
    "execution.id": "executionId",
}


def parse_filter(text: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """`status eq 'FAILED' and organizationId eq '...'` (or `organization.id: '...'`) as {wire field: value}."""
    filters: dict[str, str] = {}
    position, text = 0, text.strip()
    while position < len(text):
        if filters:
            separator = _FILTER_AND.match(text, position)
            if not separator:
                raise ApiError(HTTPStatus.BAD_REQUEST, f"Malformed filter: expected 'and' at position {position}")
            position = separator.end()
        clause = _FILTER_CLAUSE.match(text, position)
        if not clause:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"Malformed filter at position {position}: expected <field> eq '<value>'"
            )
        field = _FILTER_ALIASES.get(clause["field"], clause["field"])
        if field not in allowed:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Cannot filter on {field!r}; use one of {', '.join(allowed)}")
        if field in filters:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Malformed filter: {field!r} appears twice")
        filters[field] = clause["value"].replace("''", "'")
        position = clause.end()
    return filters


def _int_param(request: Request, name: str, default: int) -> int:
    text = request.param(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= INT32_MAX:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name} must be a positive integer")
    return value


def _sort_param(request: Request) -> tuple[str, bool]:
    field, _, direction = (request.param("sort") or DEFAULT_SORT).partition(",")
    direction = direction.strip().lower() or "asc"
    if field.strip() not in SORT_FIELDS or direction not in ("asc", "desc"):
        raise ApiError(
            HTTPStatus.BAD_REQUEST, f"sort must be <field>,<asc|desc> with a field among {', '.join(SORT_FIELDS)}"
        )
    return field.strip(), direction == "desc"


def page_query(request: Request, filter_fields: tuple[str, ...]) -> tuple[PageQuery, int, int]:
    """The list request's query for the store, with the page number and size it asked for (size capped)."""
    number = _int_param(request, "page", 1)
    size = min(_int_param(request, "pageSize", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    sort_field, descending = _sort_param(request)
    text = request.param("query", "").strip()
    query = PageQuery(
        filters=parse_filter(request.param("filter", ""), filter_fields),
        text=None if text in ("", "*") else text,
        sort_field=sort_field,
        descending=descending,
        offset=(number - 1) * size,
        limit=size,
    )
    return query, number, size


def page_body(bodies: list[str], total: int, number: int, size: int) -> bytes:
    """The page object around already-serialised records (joined, never re-parsed)."""
    total_pages = -(-total // size)
    meta = {
        "totalElements": total,
        "totalPages": total_pages,
        "number": number,
        "size": size,
        "numberOfElements": len(bodies),
        "first": number == 1,
        "last": number >= total_pages,
        "empty": not bodies,
    }
    return f'{{"content":[{",".join(bodies)}],{json.dumps(meta, separators=(",", ":"))[1:]}'.encode()
