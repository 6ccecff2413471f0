"""A real OpenID Connect provider for the sign-in tests: oidc-provider-mock in its own process on 127.0.0.1. Like a
company's provider it requires the console to be registered (its own client id, secret and redirect URI) and a
nonce; a test sets each user's claims (their groups) through its API, and signs in as them on its authorization
page (in the browser) or by posting that page's form (`sign_in_through`, with Django's test client)."""

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests
from django.utils.csp import CSP

from slices_admin.accounts import provider

LISTENING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")
SERVED = re.compile(r'"[A-Z]+ (/[^? ]*)[^"]* HTTP/1\.1"')  # an access log line: the path asked for
START_TIMEOUT = 30
ROLE_GROUPS = {"viewer": ["console-viewers"], "operator": ["console-operators"], "admin": ["console-admins"]}
PROVIDER_NAME = "Example SSO"


@dataclass
class IdentityProvider:
    url: str
    process: subprocess.Popen
    log: deque = field(default_factory=lambda: deque(maxlen=200))
    served: Counter = field(default_factory=Counter)  # requests answered, by path, since it started

    def register(self, *redirect_uris: str) -> tuple[str, str]:
        """Register a client as an administrator would at the provider: (client id, client secret)."""
        answer = requests.post(f"{self.url}/oauth2/clients", json={"redirect_uris": list(redirect_uris)}, timeout=10)
        answer.raise_for_status()
        return answer.json()["client_id"], answer.json()["client_secret"]

    def set_user(self, subject: str, **claims) -> None:
        """Create the user `subject` or replace all of their claims (e.g. `groups=[...]`)."""
        requests.put(f"{self.url}/users/{subject}", json=claims, timeout=10).raise_for_status()

    def answered(self, path: str) -> int:
        """Requests for `path` answered so far, every one answered before this call included. `served` is counted
        from the provider's access log as a thread reads it, a little after each answer; the log is written in order,
        so once a request of this call's own is counted, so is every one before it."""
        marker = f"/counted/{secrets.token_hex(6)}"
        requests.get(self.url + marker, timeout=10)  # a 404, logged as any request is
        deadline = time.monotonic() + 10
        while not self.served[marker]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"The provider's log never showed {marker}:\n" + "\n".join(self.log))
            time.sleep(0.01)
        return self.served[path]

    def new_user(self, *groups: str, username: str | None = None) -> str:
        """A new user in `groups` (a subject no other test uses): their subject."""
        subject = f"sub-{secrets.token_hex(6)}"
        username = username or f"person-{subject[4:]}"
        self.set_user(subject, preferred_username=username, email=f"{username}@example.com", groups=list(groups))
        return subject

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_identity_provider() -> IdentityProvider:
    """Start the provider on a free port and return once it listens (its stderr is kept for diagnostics)."""
    command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", "0"]
    command += ["--require-registration", "--require-nonce"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    log: deque = deque(maxlen=200)
    served: Counter = Counter()
    found: list[str] = []
    listening = threading.Event()

    def drain() -> None:  # keep reading, or a full pipe would stall the provider
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line.rstrip())
            if asked := SERVED.search(line):
                served[asked.group(1)] += 1
            if not found and (match := LISTENING.search(line)):
                found.append(match.group(1))
                listening.set()
        listening.set()

    threading.Thread(target=drain, daemon=True).start()
    if not listening.wait(START_TIMEOUT) or not found:
        process.kill()
        raise RuntimeError("The OpenID Connect provider did not start:\n" + "\n".join(log))
    return IdentityProvider(found[0], process, log, served)


def configure_console(settings, idp: IdentityProvider, base_url: str = "http://testserver", **overrides) -> str:
    """Turn sign-in with `idp` on, the console registered there with its callback under `base_url` (the test
    client's host, or the live server's); the client secret."""
    client_id, secret = idp.register(f"{base_url}/oidc/callback/")
    values = {
        "OIDC_ENABLED": True,
        "OIDC_ISSUER": idp.url,
        "OIDC_RP_CLIENT_ID": client_id,
        "OIDC_RP_CLIENT_SECRET": secret,
        "OIDC_PROVIDER_NAME": PROVIDER_NAME,
        "OIDC_ROLE_GROUPS": ROLE_GROUPS,
        "SECURE_CSP": {**settings.SECURE_CSP, "form-action": [CSP.SELF, idp.url]},  # as settings.py derives it
        **overrides,
    }
    for name, value in values.items():
        setattr(settings, name, value)
    provider.forget_discovery()
    return secret


def authorize(client, next_url: str = "") -> str:
    """Start a sign-in with the test client: the provider's authorization URL the console redirects to."""
    started = client.get("/oidc/authenticate/" + (f"?{urlencode({'next': next_url})}" if next_url else ""))
    assert started.status_code == 302, started.status_code
    return started["Location"]


def choose_identity(authorization_url: str, subject: str) -> str:
    """What the person does on the provider's page: sign in as `subject`. The callback URL it sends them to."""
    answer = requests.post(authorization_url, data={"sub": subject}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    return answer.headers["Location"]


def with_params(url: str, **params: str) -> str:
    """`url` with these query parameters replaced (what someone tampering with a redirect does)."""
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **params})))


def callback(client, callback_url: str):
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in_through(client, subject: str, next_url: str = ""):
    """A whole sign-in with the test client: the console's answer to the provider's callback."""
    return callback(client, choose_identity(authorize(client, next_url), subject))
