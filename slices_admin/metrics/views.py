"""`/metrics`: the Prometheus exposition, for Prometheus alone.

Off (404, as if there were no such page) until `METRICS_TOKEN` or `METRICS_ALLOWED_IPS` is set. With an address
list, other addresses get 403 (audited, as every refusal is); with a token, a request without `Authorization:
Bearer <token>` gets 401. With both, both are needed. No refusal says anything about the metrics.
"""

import hmac
import ipaddress
from collections.abc import Callable
from functools import cache, wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseForbidden
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.django import PrometheusDjangoView
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from .state import ConsoleState

View = Callable[..., HttpResponseBase]


def address_allowed(address: str, allowed: list[str]) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(client in ipaddress.ip_network(network, strict=False) for network in allowed)


def bearer_token_matches(request: HttpRequest, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def metrics_access(view: View) -> View:
    """Runs before anything else looks at the request, the method included: an unconfigured or refused request
    learns nothing but the refusal."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        token, allowed = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS
        if not token and not allowed:
            raise Http404("Metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_IPS.")
        if allowed and not address_allowed(request.META.get("REMOTE_ADDR", ""), allowed):
            # The audit entry of the refusal says why (see `audit.middleware`).
            request.denied_reason = "the address is not in METRICS_ALLOWED_IPS"  # type: ignore[attr-defined]
            return HttpResponseForbidden("This address may not read the metrics.\n", content_type="text/plain")
        if token and not bearer_token_matches(request, token):
            response = HttpResponse("A bearer token is needed.\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return view(request, *args, **kwargs)

    return guarded


class _ThisProcess:
    """This process's own series (single-process mode: `runserver`, tests)."""

    def collect(self) -> list[Metric]:
        return list(REGISTRY.collect())


@cache
def exposition_registry() -> CollectorRegistry:
    """What a scrape reports: the series every process of the console counted (multiprocess mode), or this
    process's alone, and the console's state read from the database."""
    registry = CollectorRegistry()
    if settings.PROMETHEUS_MULTIPROC_DIR:
        MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    else:
        registry.register(_ThisProcess())
    registry.register(ConsoleState())
    return registry


@receiver(setting_changed)
def _rebuild_on_settings_change(*, setting: str, **kwargs: object) -> None:
    if setting == "PROMETHEUS_MULTIPROC_DIR":
        exposition_registry.cache_clear()


class MetricsView(PrometheusDjangoView):
    """prometheus-client's own view (text format, OpenMetrics when asked, gzip) on the console's registry."""

    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.registry = exposition_registry()
        return super().get(request, *args, **kwargs)


metrics = login_not_required(metrics_access(MetricsView.as_view()))
