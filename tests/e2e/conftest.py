"""End-to-end fixtures: the whole platform as real processes on the real Kafka and PostgreSQL.

One session starts every API (analytics serves the console), every outbox relay and every worker
with ``shared.testing.platform.start_platform``: fresh databases cloned from migrated templates, a
unique topic prefix, and only the processes it started stopped (by pid). It then loads a small demo
through the HTTP APIs with ``python -m demo``. Logs and screenshots go to ``test-artifacts/e2e/``.

The browser is Debian's Chromium driven by Playwright (the Python package; its own browser download
is not used): ``/usr/bin/chromium``, or ``E2E_CHROMIUM`` when set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.plan import CustomerPlan, build_plan
from shared.testing.platform import PlatformView, load_demo, start_platform, stop_platform
from shared.testing.plugin import REPO_ROOT, DatabaseFactory
from shared.testing.waiting import eventually_answered

ARTIFACTS = REPO_ROOT / "test-artifacts" / "e2e"
WORKERS = {
    "customer": ("scheduler",),
    "ticketing": ("scheduler", "customer-replica"),
    "campaigns": ("engine", "timers"),
    "analytics": ("projector", "sweep"),
}
DEMO_SEED = 7
DEMO_CUSTOMERS = 40
DEMO_MONTHS = 2
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
# Short SLA targets so unanswered demo tickets breach while the session runs.
FAST_SLA = '{"standard": {"urgent": [1, 5], "high": [2, 10], "normal": [30, 240], "low": [60, 480]}}'
FAST_ENV = {
    "TICKETING_SLA_POLICY": FAST_SLA,
    "TICKETING_SCHEDULER_INTERVAL_SECONDS": "5",
    "CUSTOMER_OVERDUE_SCAN_INTERVAL_SECONDS": "5",
    "ANALYTICS_SWEEP_INTERVAL_SECONDS": "30",
    "CONSOLE_LIVE_POLL_SECONDS": "1",
    # No quiet hours (start = end): the demo's customers live in Europe/Istanbul, and from 21:00 to 08:00
    # there the campaigns would defer every offer, so the offer and campaign tests would depend on the hour.
    "CAMPAIGNS_QUIET_HOURS_START": "00:00",
    "CAMPAIGNS_QUIET_HOURS_END": "00:00",
}


@dataclass
class Platform(PlatformView):
    """The running platform seen from the browser tests: URLs, tokens, the console and the demo's plan."""

    as_of: datetime
    """The simulated present the demo's history ends at (the plan depends on it)."""

    @property
    def console(self) -> str:
        return f"{self.urls['analytics']}/console"

    def demo_customer(self) -> CustomerPlan:
        """A demo customer with orders, a complaint and an NPS answer (the plan is deterministic)."""
        plan = build_plan(seed=DEMO_SEED, customers=DEMO_CUSTOMERS, months=DEMO_MONTHS, now=self.as_of)
        for customer in plan.customers:
            has_complaint = any(t.kind == "complaint" for t in customer.tickets)
            has_nps = any(s.kind == "nps" and s.answered_at is not None for s in customer.surveys)
            if customer.orders and has_complaint and has_nps:
                return customer
        raise AssertionError("the demo plan has no customer with orders, a complaint and an NPS answer")

    def call(self, service: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """``/v1/<path>`` of a service as the admin, with a fresh Idempotency-Key; it must succeed."""
        with self.client() as client:
            answer = client.request(method, f"{self.urls[service]}/v1/{path}", json=body,
                                    headers={"Idempotency-Key": str(uuid.uuid4())})
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def customer_id(self, customer: CustomerPlan) -> str:
        with self.client() as http:
            page = http.get(f"{self.urls['customer']}/v1/customers", params={"email": customer.email}).json()
        return str(page["items"][0]["id"])


@pytest.fixture(scope="session")
def platform(database_factory: DatabaseFactory, kafka_bootstrap: str) -> Iterator[Platform]:
    """Every API, relay and worker running on fresh databases and topics, with a demo loaded."""
    running = start_platform(database_factory=database_factory, kafka_bootstrap=kafka_bootstrap, name="e2e",
                             workers=WORKERS, extra_env=FAST_ENV, log_dir=ARTIFACTS / "logs")
    try:
        platform = Platform(running=running, as_of=datetime.now(UTC).replace(microsecond=0))
        load_demo(running, customers=DEMO_CUSTOMERS, months=DEMO_MONTHS, seed=DEMO_SEED, as_of=platform.as_of)
        yield platform
    finally:
        stop_platform(running, database_factory)


@pytest.fixture(scope="session")
def browser(platform: Platform) -> Iterator[Any]:
    """Debian's headless Chromium under Playwright.

    It depends on ``platform`` so that Playwright's event loop (the sync API runs one in this
    thread) starts after, and stops before, the fixtures that call ``asyncio.run``.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_FLAGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser tab (its own sessionStorage) sized like a laptop screen."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()


@contextmanager
def running_worker(platform: Platform, service: str, worker: str,
                   extra_env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``c360 worker <service> <worker>`` on the session's platform (which runs no such worker); this
    process, and only it, is stopped afterwards. Its log is ``test-artifacts/e2e/logs/<service>-<worker>.log``."""
    (ARTIFACTS / "logs").mkdir(parents=True, exist_ok=True)
    with (ARTIFACTS / "logs" / f"{service}-{worker}.log").open("ab") as log:
        process = subprocess.Popen([str(Path(sys.executable).parent / "c360"), "worker", service, worker],
                                   cwd=REPO_ROOT, env={**platform.running.env, **(extra_env or {})}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under ``test-artifacts/e2e/``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def eventually(check: Any, *, timeout: float = 90.0, interval: float = 1.0, what: str = "condition") -> Any:
    """Poll ``check()`` until it returns something truthy (the platform is eventually consistent)."""
    return eventually_answered(check, timeout=timeout, what=what, interval=interval,
                               tolerate=(httpx.HTTPError, KeyError, ValueError))
