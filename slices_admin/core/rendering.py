"""One view, two answers: the whole page, or one named partial of it when htmx swaps part of the page; and a
redirect after a post that htmx follows as a whole page."""

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect


def redirect_after_post(request: HttpRequest, url: str) -> HttpResponse:
    """Where to go after a form succeeded: an htmx post is sent there as a whole page, not swapped in."""
    return HttpResponseClientRedirect(url) if wants_htmx(request) else redirect(url)


def wants_htmx(request: HttpRequest) -> bool:
    """Whether htmx sent the request (django-htmx's middleware sets `request.htmx`)."""
    return bool(getattr(request, "htmx", False))


def wants_fragment(request: HttpRequest) -> bool:
    """Whether htmx asks for a part of the page (not a boosted link or a history restore, which want it whole)."""
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page_or_partial(
    request: HttpRequest, template: str, partial: str, context: Mapping[str, Any], status: int = 200
) -> HttpResponse:
    fragment = wants_fragment(request)
    response = render(request, f"{template}#{partial}" if fragment else template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])  # a cache must never answer one with the other
    return response
