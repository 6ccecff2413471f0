"""The signature a receiver checks: over the timestamp and the exact body, refused when either changes or is old."""

import hashlib
import hmac

import pytest

from slices_admin.notifications import signing
from tests.conftest import ROOT

SECRET = "whsec-signing-test"
BODY = '{"event":"finished","text":"Bulk edit 7 finished ✓"}'.encode()


def test_the_signature_is_an_hmac_sha256_of_the_timestamp_a_dot_and_the_body():
    expected = hmac.new(SECRET.encode(), b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert signing.signature(SECRET, 1767225600, BODY) == f"sha256={expected}"


def test_each_try_is_signed_with_its_own_timestamp():
    first = signing.signed_headers(SECRET, BODY, now=1767225600.9)
    later = signing.signed_headers(SECRET, BODY, now=1767225660)
    assert first["X-Slices-Timestamp"] == "1767225600" and later["X-Slices-Timestamp"] == "1767225660"
    assert first["X-Slices-Signature"] != later["X-Slices-Signature"]


def test_a_receiver_accepts_a_fresh_message_signed_with_the_secret():
    headers = signing.signed_headers(SECRET, BODY, now=1767225600)
    assert signing.verify(SECRET, BODY, headers["X-Slices-Timestamp"], headers["X-Slices-Signature"], now=1767225630)


def test_a_receiver_refuses_a_changed_body_another_secret_an_old_or_missing_timestamp():
    headers = signing.signed_headers(SECRET, BODY, now=1767225600)
    stamp, signed = headers["X-Slices-Timestamp"], headers["X-Slices-Signature"]
    assert not signing.verify(SECRET, BODY + b" ", stamp, signed, now=1767225600)
    assert not signing.verify("another-secret", BODY, stamp, signed, now=1767225600)
    assert not signing.verify(SECRET, BODY, stamp, signed, now=1767225600 + 301)  # replayed later
    assert not signing.verify(SECRET, BODY, "1767225601", signed, now=1767225600)  # the timestamp moved
    assert not signing.verify(SECRET, BODY, None, signed, now=1767225600)
    assert not signing.verify(SECRET, BODY, "-5", signed, now=1767225600)


def test_the_readmes_receiver_accepts_a_signed_message_and_refuses_a_changed_one():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Notifications") :]
    start = section.index("```python") + len("```python")
    snippet = section[start : section.index("```", start)]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 (the README's own example)
    headers = signing.signed_headers(SECRET, BODY)
    assert namespace["verified_message"](SECRET, headers, BODY)["event"] == "finished"
    with pytest.raises(ValueError, match="not a message from the console"):
        namespace["verified_message"](SECRET, headers, BODY.replace(b"7", b"8"))
