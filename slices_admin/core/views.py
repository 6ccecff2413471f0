import logging
import sys

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
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
    if request.path.startswith("/api/"):
        detail = "The console's database is busy or restarting. Try again in a few seconds."
        response = JsonResponse({"detail": detail, "code": "database_unavailable"}, status=503)
    else:
        path = request.path if request.method == "GET" else "/"
        page = loader.get_template("503.html").render({"request_id": request_id, "path": path})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = "5"
    response["X-Console-Unavailable"] = "database"
    return response
