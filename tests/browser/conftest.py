"""Real-browser tests: Debian's chromium driven by Playwright against Django's live server.

Screenshots go to test-artifacts/ (kept by CI and shown in the README)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """One browser per test module.

    While Playwright runs, this thread has an event loop, so Django would refuse the ORM calls of the
    tests and of the database flush after each transactional test. Those calls are plain synchronous
    calls, so the guard is lifted exactly as long as the browser lives (module scope): later non-browser
    tests, and `check --deploy` subprocesses, never see the variable."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            yield browser
            browser.close()


@pytest.fixture
def page(chromium, live_server) -> Iterator[object]:
    """A fresh browser context (no cookies) per test, on a phone-or-desktop sized viewport."""
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    # Every page runs under the staff Content-Security-Policy (config.middleware): a script or handler it
    # refuses is a broken page, so any violation chromium reports fails the test.
    violations: list[str] = []
    page.on("console", lambda message: _csp_violation(message, violations))
    yield page
    context.close()
    assert violations == [], violations


def _csp_violation(message, violations: list[str]) -> None:
    if message.type == "error" and "Content Security Policy" in message.text:
        violations.append(message.text)


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG under test-artifacts/ and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
