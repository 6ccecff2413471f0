import logging
import sys

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET

from .readiness import readiness

logger = logging.getLogger(__name__)


@require_GET
def home(request):
    return redirect("slices:dashboard")


@require_GET
@login_not_required
def healthz(request):
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


@require_GET
@login_not_required
@never_cache
def readyz(request):
    """Ready for traffic (for load balancers): the database, its migrations, Kodexa and a background worker.
    Answers only ok or a short reason per check, so it is safe to leave open to anyone."""
    checks = readiness()
    ready = all(check.ok for name, check in checks.items() if name in settings.READYZ_REQUIRED)
    body = {"status": "ready" if ready else "not ready", "checks": {name: c.as_json() for name, c in checks.items()}}
    return JsonResponse(body, status=200 if ready else 503)


@login_not_required
def csrf_failure(request, reason=""):
    """A refused form: usually a page left open past its session. Say so, and let the audit log know."""
    request.denied_reason = f"the CSRF check failed ({reason})"
    return render(request, "403.html", {"csrf_failed": True}, status=403)


@requires_csrf_token
def server_error(request):
    """A 500, unless what failed is the database (busy, restarting, unreachable): then a 503 saying to try again
    shortly, and the broken connection is dropped so the next request opens a new one. Renders without the
    database: no context processors, no user."""
    error = sys.exc_info()[1]
    if not isinstance(error, OperationalError | InterfaceError):
        return defaults.server_error(request)
    for connection in connections.all(initialized_only=True):
        connection.close_if_unusable_or_obsolete()
    request_id = getattr(request, "request_id", "")
    response: HttpResponse
    if request.path.startswith("/api/"):
        detail = "The console's database is busy or restarting. Try again in a few seconds."
        response = JsonResponse({"detail": detail, "code": "database_unavailable"}, status=503)
    else:
        retry_here = request.method == "GET"  # a link to the same address, never one built from the path
        page = loader.get_template("503.html").render({"request_id": request_id, "retry_here": retry_here})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = "5"
    response["X-Console-Unavailable"] = "database"
    return response


def _unreadable(exception) -> tuple[int, str, str]:
    """(status, title, message) for a request the console refused to read."""
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        size = f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit / 2**10:g} KiB"
        message = (
            f"The form sent more than {size} ({limit:,} bytes), the most the console accepts. Shorten the "
            "longest fields (a JSON object, a list of ids) and submit again."
        )
        return 413, "Too much to send", message
    if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        most = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        message = f"The form sent more than {most:,} fields, the most the console accepts: select fewer and try again."
        return 400, "Too many fields", message
    return 400, "Bad request", "The console could not read this request. Reload the page and try again."


@requires_csrf_token
def bad_request(request, exception=None):
    """A request the console refused to read: a body over DATA_UPLOAD_MAX_MEMORY_SIZE (413, saying the limit), too
    many fields, or otherwise malformed (400). JSON under /api/; for htmx (which swaps no error answer) the message
    in `X-Console-Message` for the page to show; else a page. Renders without the database or the user."""
    status, title, message = _unreadable(exception)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    page = loader.get_template("400.html").render({"title": title, "message": message, "back": "/"})
    response = HttpResponse(page, status=status)
    if request.headers.get("HX-Request") == "true":
        response["X-Console-Message"] = message
    return response
