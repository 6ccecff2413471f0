"""Counts and times every request the console answers, by the view that answered it (never the path a client
sent: a path holds ids, and anyone can make up new ones)."""

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from .series import observe_request

STATIC = "(static)"  # a static file, answered by WhiteNoise before any view
NO_VIEW = "(no view)"  # answered before a view was chosen (no URL matched, an HTTPS redirect, a lockout...)


def view_label(request: HttpRequest) -> str:
    """The URL name of the view that answered (`slices:list`), its route when it has none, or what answered
    instead of a view."""
    match = request.resolver_match
    if match is not None:
        return match.view_name if match.url_name else match.route
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return STATIC
    return NO_VIEW


class RequestMetricsMiddleware:
    """Outside every middleware but those that set the request's id and log it, so answers the others give
    themselves (static files, redirects, refusals) are counted too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        observe_request(view_label(request), request.method or "", response.status_code, time.perf_counter() - started)
        return response
