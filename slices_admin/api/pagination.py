from rest_framework import pagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from slices_admin.audit.selectors import Cursor, keyset_page, page_size_from


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "pageSize"
    max_page_size = 1000


class AuditKeysetPagination(pagination.BasePagination):
    """Newest first, `before`/`after` an entry id (the `next`/`previous` links carry them), `last=1` for the
    oldest page: the same keyset pages as the audit page, so no COUNT over the whole log."""

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        self.request = request
        self.page = keyset_page(queryset, Cursor.from_params(params), page_size_from(params, most=1000))
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
