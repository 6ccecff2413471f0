"""One view, two answers: the whole page, or one named partial of it when htmx swaps part of the page; and a
redirect after a post that htmx follows as a whole page."""

from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect


def redirect_after_post(request, url: str):
    """Where to go after a form succeeded: an htmx post is sent there as a whole page, not swapped in."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def wants_fragment(request) -> bool:
    """Whether htmx asks for a part of the page (not a boosted link or a history restore, which want it whole)."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page_or_partial(request, template: str, partial: str, context: dict, status: int = 200):
    fragment = wants_fragment(request)
    response = render(request, f"{template}#{partial}" if fragment else template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])  # a cache must never answer one with the other
    return response
