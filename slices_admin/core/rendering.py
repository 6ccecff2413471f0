"""One view, two answers: the whole page, or one named partial of it when htmx swaps part of the page."""

from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def render_page_or_partial(request, template: str, partial: str, context: dict, status: int = 200):
    htmx = request.htmx
    wants_fragment = bool(htmx) and not htmx.boosted and not htmx.history_restore_request
    response = render(request, f"{template}#{partial}" if wants_fragment else template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])  # a cache must never answer one with the other
    return response
