"""The webhook signature: HMAC-SHA256 under BULK_WEBHOOK_SECRET over `<timestamp>.<body>`, the timestamp (Unix
seconds) sent beside it so that a receiver can refuse an old message replayed. `verify` is what a receiver does (the
README shows the same in a few lines)."""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Slices-Signature"
TIMESTAMP_HEADER = "X-Slices-Timestamp"
EVENT_HEADER = "X-Slices-Event"
DELIVERY_HEADER = "X-Slices-Delivery"
SCHEME = "sha256="
TOLERANCE_SECONDS = 300  # how old a signed timestamp a receiver should accept


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value: `sha256=` and the hex digest of `<timestamp>.` followed by the body's exact bytes."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The timestamp and signature headers for one try (each try is signed afresh: its timestamp is now)."""
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signed: str | None,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """Whether a message is ours, unchanged and recent: the receiver's check, in constant time."""
    if not timestamp or not signed or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), signed)
