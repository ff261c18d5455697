"""Shared fixtures, and the rules for tests that need PostgreSQL, Redis or a browser.

On a laptop a test whose service is missing is skipped with the reason in the summary.
With ``LEADCRM_STRICT_SERVICES=1`` (CI) a skipped test fails instead.
"""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

STRICT = os.environ.get("LEADCRM_STRICT_SERVICES") == "1"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
# Headless, and nothing that phones home (this machine's network is closed).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _postgres_missing() -> str | None:
    engine = settings.DATABASES["default"]["ENGINE"]
    return None if "postgresql" in engine else "needs PostgreSQL: set DATABASE_URL=postgres://..."


def _redis_missing() -> str | None:
    if not settings.REDIS_URL:
        return "needs Redis: set REDIS_URL=redis://..."
    try:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001
        return f"needs Redis at REDIS_URL, which does not answer ({exc.__class__.__name__})"
    return None


def _browser_missing() -> str | None:
    if not CHROMIUM:
        return "needs Chromium: apt-get install chromium"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "needs the playwright Python package"
    return None


CHECKS = {"postgres": _postgres_missing, "redis": _redis_missing, "browser": _browser_missing}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, check in CHECKS.items():
        if item.get_closest_marker(marker):
            reason = check()
            if reason:
                pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in strict mode (LEADCRM_STRICT_SERVICES=1): {report.longrepr}"


@pytest.fixture
def artifacts_dir() -> Path:
    """Where browser tests leave screenshots for people to look at."""
    path = Path(settings.BASE_DIR) / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def _side_connections_closed():
    """A test that wrote a list of events in parts leaves side threads with open connections
    (core.db.run_beside); they are closed after it, or the test database could not be dropped."""
    yield
    from core.db import close_side_connections

    close_side_connections()
