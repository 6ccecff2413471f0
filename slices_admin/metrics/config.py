"""The metrics settings checked as `settings.py` reads them: a start with a weak token or an address list that is
not one stops with a message, rather than a /metrics that is open or shut by surprise."""

import ipaddress
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def checked_token(token: str) -> str:
    if token and (len(token) < 16 or token.strip() != token):
        raise ImproperlyConfigured(
            "METRICS_TOKEN is a random value of 16 characters or more, without spaces around it."
        )
    return token


def checked_networks(networks: list[str]) -> list[str]:
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {network!r} is not an address or a network.") from None
    return networks


def made_directory(directory: str) -> str:
    """prometheus-client cannot count into a directory that is not there: make it (nothing when unset)."""
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
    return directory
