"""How the API's lists are paged: `page`/`pageSize` over a slice list (the list pages' own `SliceList`), keyset pages
of the audit log, and page numbers over whatever else is listed."""

from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from slices_admin.audit.selectors import DEFAULT_PAGE_SIZE, keyset_page
from slices_admin.slices.listing import SliceList
from slices_admin.slices.selectors import COUNT_LIMIT, SEARCH_CANDIDATES, SEARCH_COUNT_LIMIT

from .queries import MAX_PAGE_SIZE, checked_audit_page, checked_page, checked_page_size

_LINK = {"type": "string", "format": "uri", "nullable": True}


class PageNumberPagination(pagination.PageNumberPagination):
    """`page` from 1 and `pageSize`; a page past the last is a 404. A `pageSize` that is no positive whole number
    is a 400, not quietly the default."""

    page_size = 50
    page_size_query_param = "pageSize"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        return checked_page_size(request.query_params, self.page_size)

    def get_schema_operation_parameters(self, view):
        return []  # each list declares `page` and `pageSize` with its other query parameters


class SliceListPagination(pagination.BasePagination):
    """`page` from 1 and `pageSize` over a slice list: the page comes from the list's own plan and `count` is the
    list's count, as on the list pages, so no request counts a million matches. A page past the last is a 404."""

    page_size = 50
    invalid_page = "Invalid page."
    last_offset = 2**63 - 1  # the largest row offset the databases take: a page past it is past any list's end

    def page_asked(self, params) -> tuple[int, int]:
        """The page number and size `params` ask for (a 400 for either that is no whole number from 1)."""
        return checked_page(params, self.page_size)

    def paginate_list(self, listing: SliceList, request) -> list:
        self.request, self.listing = request, listing
        if (listing.number - 1) * listing.size > self.last_offset:
            raise NotFound(self.invalid_page)
        page = listing.page
        if page.number > 1 and not page.rows:
            raise NotFound(self.invalid_page)
        return page.rows

    def _link(self, number: int) -> str:
        url = self.request.build_absolute_uri()
        return remove_query_param(url, "page") if number == 1 else replace_query_param(url, "page", number)

    def get_paginated_response(self, data):
        page, count = self.listing.page, self.listing.count
        return Response(
            {
                "count": count.value,
                "countIsExact": count.exact,
                "next": self._link(page.number + 1) if page.has_next else None,
                "previous": self._link(page.number - 1) if page.has_previous else None,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "countIsExact", "next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many slices match. Exact when `countIsExact` is true. Otherwise, with a "
                    f"filter or a search, a lower bound: counting stops at {COUNT_LIMIT:,} matches "
                    f"({SEARCH_COUNT_LIMIT:,} for a text search `q`), and at least this many match; with neither, the "
                    "size of the whole cache as the database estimates it, which may be a little over or under. A "
                    "text search matching a large share of a large cache (on PostgreSQL) gives the database's "
                    f"estimate, and its pages hold the {SEARCH_CANDIDATES:,} most recently updated matches in the "
                    "order asked (sorted by `updatedOn`, every match).",
                },
                "countIsExact": {
                    "type": "boolean",
                    "description": "Whether `count` is the exact number of matches. A count is exact only while it "
                    "is cheap, so a list of millions answers as fast as a short one: to read every match, follow "
                    "`next` until it is null.",
                },
                "next": {**_LINK, "description": "The next page; null on the last."},
                "previous": {**_LINK, "description": "The page before; null on the first."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return []  # each list declares `page` and `pageSize` with its other query parameters


class AuditKeysetPagination(pagination.BasePagination):
    """Newest first, `before`/`after` an entry id (the `next`/`previous` links carry them), `last=1` for the
    oldest page: the same keyset pages as the audit page, so no COUNT over the whole log."""

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        cursor, size = checked_audit_page(request.query_params, DEFAULT_PAGE_SIZE)
        self.page = keyset_page(queryset, cursor, size)
        return self.page.entries

    def _link(self, **cursor) -> str:
        url = self.request.build_absolute_uri()
        for name in ("before", "after", "last"):
            url = remove_query_param(url, name)
        for name, value in cursor.items():
            url = replace_query_param(url, name, value)
        return url

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self._link(before=self.page.older_cursor) if self.page.has_older else None,
                "previous": self._link(after=self.page.newer_cursor) if self.page.has_newer else None,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**_LINK, "description": "The next older page; null on the oldest."},
                "previous": {**_LINK, "description": "The next newer page; null on the newest."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return []  # `AuditPageQuery` documents them (see the view)
