from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET


@require_GET
def home(request):
    return redirect("slices:dashboard")


@require_GET
@login_not_required
def healthz(request):
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


@login_not_required
def csrf_failure(request, reason=""):
    """A refused form: usually a page left open past its session. Say so, and let the audit log know."""
    request.denied_reason = f"the CSRF check failed ({reason})"
    return render(request, "403.html", {"csrf_failed": True}, status=403)
