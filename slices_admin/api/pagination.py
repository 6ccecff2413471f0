from rest_framework import pagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from slices_admin.audit.selectors import DEFAULT_PAGE_SIZE, keyset_page

from .queries import MAX_PAGE_SIZE, checked_audit_page, checked_page_size


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
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "The next older page; null on the oldest."},
                "previous": {**link, "description": "The next newer page; null on the newest."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return []  # `AuditPageQuery` documents them (see the view)
