"""Request plumbing: the client's address behind proxies, an id that follows each request everywhere, answers no
cache keeps, htmx-aware login redirects, and the session idle timeout."""

import contextlib
import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, resolve_url
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django_htmx.http import HttpResponseClientRedirect
from whitenoise.middleware import WhiteNoiseMiddleware

from . import logs

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class ClientAddressMiddleware:
    """Behind TRUSTED_PROXY_COUNT proxies, the client's address is that many entries from the right of
    X-Forwarded-For (each proxy appends the address it saw; anything further left is the client's own claim).
    REMOTE_ADDR becomes it, so sign-in throttling and the audit log see people rather than the proxy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if count := settings.TRUSTED_PROXY_COUNT:
            hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
            if len(hops) >= count:
                with contextlib.suppress(ValueError):  # not an address: keep the proxy's
                    request.META["REMOTE_ADDR"] = str(ipaddress.ip_address(hops[-count]))
        return self.get_response(request)


class RequestIdMiddleware:
    """Gives every request an id that follows it into logs, audit entries, Kodexa calls and the response.

    The console makes the id. Behind trusted proxies (`TRUSTED_PROXY_COUNT`), the proxy's `X-Request-ID` is taken
    instead, so one id spans the proxy's logs and ours: the proxy must set the header, not pass a client's on. A
    client's own `X-Request-ID` never becomes the id (it could make entries share another request's id); it is
    kept beside it in the access log, for a script to find its requests."""

    header = "X-Request-ID"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(self.header, "")
        safe = incoming if _SAFE_ID.match(incoming) else ""
        if settings.TRUSTED_PROXY_COUNT and safe:
            request.request_id, request.client_request_id = safe, ""
        else:
            request.request_id, request.client_request_id = uuid.uuid4().hex, safe
        response = self.get_response(request)
        response[self.header] = request.request_id
        return response


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, quiet about a STATIC_ROOT that was never collected while it serves from the apps' folders
    (development and tests: `WHITENOISE_USE_FINDERS`). Production serves what `collectstatic` wrote, and a missing
    folder there is still reported."""

    def add_files(self, root, prefix=None):
        if self.use_finders and str(root) == str(settings.STATIC_ROOT) and not Path(root).is_dir():
            return
        super().add_files(root, prefix)


class PrivateAnswersMiddleware:
    """Every answer but a static file is marked `Cache-Control: private, no-store`: pages, fragments, API answers and
    exports hold what a signed-in person may see, and must not outlive the sign-out in a browser or proxy cache.
    Placed after WhiteNoise, which answers static files (long-cached, hashed names) before this sees them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_cache_control(response, private=True, no_store=True)
        return response


access_log = logging.getLogger("slices_admin.access")


class RequestLogMiddleware:
    """The access log: one line per request with its id, user, method, path (never the query string, which may
    carry secrets), status and duration (of a streamed response: until its first byte). Placed right after
    `RequestIdMiddleware`, outside every other middleware, so it also logs the answers they give themselves (HTTPS
    redirects, static files, lockouts, refusals). Every other line logged while the request is served carries its
    request id and user too (see `core.logs`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        with logs.serving(request):
            response = self.get_response(request)
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            access_log.info(
                "%s %s %s %s ms",
                request.method,
                request.path,
                response.status_code,
                duration_ms,
                extra={
                    "request_id": getattr(request, "request_id", None),
                    "client_request_id": getattr(request, "client_request_id", "") or None,
                    "user": logs.username_of(request, look_up=True),
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                },
            )
        return response


class HtmxLoginRedirectMiddleware:
    """An htmx request whose session expired must not swap the login page into a fragment: send the browser
    there as a whole page instead."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(request, "htmx", False) and response.status_code == 302:
            location = response.get("Location", "")
            if location.startswith(resolve_url(settings.LOGIN_URL)):
                return HttpResponseClientRedirect(location)
        return response


LAST_ACTIVITY_KEY = "_last_activity"  # in the session: when the user last did something (Unix seconds)
ACTIVITY_WRITE_INTERVAL = 60  # seconds: a busy user's session is written at most once a minute for this


def background_poll[View: Callable[..., Any]](view: View) -> View:
    """Marks a view that pages call on a timer (`hx-trigger="every 1s"`): its requests are not the user's activity,
    so an open progress page does not keep an idle session alive."""
    view.background_poll = True  # type: ignore[attr-defined]  # a mark on the function the middleware reads
    return view


class SessionIdleTimeoutMiddleware:
    """Signs out a session idle for `SESSION_IDLE_SECONDS`, on top of the absolute `SESSION_COOKIE_AGE`.

    Activity is any request of a signed-in user to a view not marked `@background_poll`; the time of the last one
    is kept in the session. The absolute age is pinned when a session is first seen, so these writes never extend it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        limit = settings.SESSION_IDLE_SECONDS
        if not limit or not request.user.is_authenticated:
            return None
        session, now = request.session, int(time.time())
        last = session.get(LAST_ACTIVITY_KEY)
        if last is None:  # the first request of this sign-in
            session[LAST_ACTIVITY_KEY] = now
            session.set_expiry(timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE))
        elif now - last >= limit:
            return self.sign_out(request, limit)
        elif now - last >= ACTIVITY_WRITE_INTERVAL and not getattr(view_func, "background_poll", False):
            session[LAST_ACTIVITY_KEY] = now
        return None

    @staticmethod
    def sign_out(request, limit: int):
        # Back to the page the user was on: not to the fragment an htmx request asked for, nor to where a form
        # posted (signing in cannot replay the post).
        if request.htmx:
            back_to = request.htmx.current_url_abs_path
        else:
            back_to = request.get_full_path() if request.method in ("GET", "HEAD") else None
        logout(request)
        minutes = max(1, round(limit / 60))
        idle = f"{minutes} minute{'s' if minutes > 1 else ''}"
        messages.info(request, f"You were signed out after {idle} without activity. Sign in again to continue.")
        # A redirect to the login page: HtmxLoginRedirectMiddleware makes it a whole-page one for htmx.
        return redirect_to_login(back_to) if back_to else redirect(settings.LOGIN_URL)
