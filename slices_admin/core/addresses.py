"""Which host names are this machine's own: where the console may serve plain http, and where no one else reaches
it."""

import ipaddress


def is_loopback(host: str | None) -> bool:
    """`localhost`, or a loopback IP address (an IPv6 one with or without its URL brackets)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
