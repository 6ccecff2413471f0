from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .readiness import readiness


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
