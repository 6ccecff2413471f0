"""A real browser (Debian's Chromium driven by Playwright) against the console on a live server, with the sandbox
as its own process. Each test saves a screenshot under test-artifacts/; a failing one also saves a trace. Every
page load is checked for console errors and Content-Security-Policy violations."""

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from tests.conftest import ROOT

# Playwright's sync API keeps an event loop running in the test thread; Django would take the test's own database
# calls for calls from async code. They are not: let them through (for these tests only).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
PASSWORD = "browser-test-password"
expect.set_options(timeout=15_000)  # a loaded 2-core machine: wait for what a user would wait for, not longer


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"No Chromium at {CHROMIUM}: `apt-get install -y chromium` (.ci/run does) or set CHROMIUM.")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def console_url(live_server, kodexa, settings):
    """The console, served by a live server thread on the test database, talking to the sandbox process."""
    settings.DEBUG = False
    return live_server.url


class BrowserProblems:
    """What the browser complained about while a test ran: console errors, uncaught errors, CSP violations. A
    test that provokes one on purpose says so with `expect(pattern)`."""

    def __init__(self):
        self.messages: list[str] = []
        self.expected: list[re.Pattern] = []

    def expect(self, pattern: str) -> None:
        self.expected.append(re.compile(pattern))

    @property
    def unexpected(self) -> list[str]:
        return [m for m in self.messages if not any(p.search(m) for p in self.expected)]

    def watch(self, page: Page) -> None:
        page.on("console", lambda message: message.type == "error" and self.messages.append(message.text))
        page.on("pageerror", lambda error: self.messages.append(f"uncaught: {error}"))
        # A form sent back with its errors keeps its honest status (400, 409, 502), which the browser reports as a
        # failed load: expected when the answer says it is a form to show (`X-Console-Swap`).
        page.on("response", self._form_answer)

    def _form_answer(self, response) -> None:
        if response.headers.get("x-console-swap") == "form":
            self.expect(rf"status of {response.status} \(")


@pytest.fixture
def browser_problems() -> BrowserProblems:
    return BrowserProblems()


@pytest.fixture
def open_page(browser, request, console_url, browser_problems):
    """Opens a fresh browser context and page, each with cookies of its own (one per user signed in); a screenshot
    of each always, a trace of each on failure, and no browser errors allowed on any."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    opened: list[tuple[str, BrowserContext, Page]] = []

    def open_one(name: str = "") -> Page:
        context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=console_url)
        context.tracing.start(screenshots=True, snapshots=True)
        new = context.new_page()
        new.set_default_timeout(15_000)
        browser_problems.watch(new)
        opened.append((name, context, new))
        return new

    yield open_one
    failed = getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed
    for name, context, shown in opened:
        suffix = f"-{name}" if name else ""
        shown.screenshot(path=str(folder / f"final{suffix}.png"), full_page=True)
        context.tracing.stop(path=str(folder / f"trace{suffix}.zip") if failed else None)
        context.close()
    assert not browser_problems.unexpected, f"the browser reported problems: {browser_problems.unexpected}"


@pytest.fixture
def page(open_page):
    """A fresh browser context and page; screenshot always, trace on failure, and no browser errors allowed."""
    return open_page()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def sign_in(page, make_user):
    """Sign in through the login form as a new user of `role` (on `page`, or on another one: a second user in a
    context of their own); returns the user."""

    def as_role(role: str, username: str | None = None, *, on: Page | None = None):
        user = make_user(role, username)
        user.set_password(PASSWORD)
        user.save()
        where = on or page
        where.goto("/login/")
        where.get_by_label("Username").fill(user.username)
        where.get_by_label("Password").fill(PASSWORD)
        where.get_by_role("button", name="Log in").click()
        where.wait_for_url(re.compile(r"/slices/"))
        return user

    return as_role


def axe_violations(page: Page) -> list[dict]:
    """Serious and critical accessibility violations on the current page (axe-core, vendored for tests only)."""
    page.evaluate(AXE.read_text())  # through the DevTools protocol: no inline script the CSP would refuse
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
