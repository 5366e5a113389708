"""End-to-end fixtures: the whole platform as real processes on the real Kafka and PostgreSQL.

One session starts every API (analytics with the console mounted), every outbox relay and every
worker with fresh databases (cloned from migrated templates by the plugin's ``DatabaseFactory``) and
a unique topic prefix, loads a small demo through the HTTP APIs with ``python -m demo``, and stops
exactly the processes it started, by pid. Logs and screenshots go to ``test-artifacts/e2e/``.

The browser is Debian's Chromium driven by Playwright (the Python package; its own browser download
is not used): ``/usr/bin/chromium``, or ``E2E_CHROMIUM`` when set.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from demo.plan import CustomerPlan, build_plan
from shared.settings import PlatformSettings
from shared.testing.plugin import REPO_ROOT, DatabaseFactory
from shared.topics import delete_topics, ensure_topics, platform_topics
from shared.web.auth import mint_token

T = TypeVar("T")
ARTIFACTS = REPO_ROOT / "test-artifacts" / "e2e"
SERVICES = ("customer", "ticketing", "campaigns", "analytics")
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


def _in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh loop in a worker thread (safe whatever runs here)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Platform:
    """The running platform: URLs, an admin token, the demo's plan and the processes started."""

    urls: dict[str, str]
    env: dict[str, str]
    settings: PlatformSettings
    admin_token: str
    as_of: datetime
    """The simulated present the demo's history ends at (the plan depends on it)."""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def console(self) -> str:
        return f"{self.urls['analytics']}/console"

    def token(self, *scopes: str, customer_id: str | None = None) -> str:
        return mint_token(self.settings, "e2e-tester", scopes, customer_id=customer_id)

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(headers={"Authorization": f"Bearer {token or self.admin_token}"}, timeout=30.0)

    def demo_customer(self) -> CustomerPlan:
        """A demo customer with orders, a complaint and an NPS answer (the plan is deterministic)."""
        plan = build_plan(seed=DEMO_SEED, customers=DEMO_CUSTOMERS, months=DEMO_MONTHS, now=self.as_of)
        for customer in plan.customers:
            has_complaint = any(t.kind == "complaint" for t in customer.tickets)
            has_nps = any(s.kind == "nps" and s.answered_at is not None for s in customer.surveys)
            if customer.orders and has_complaint and has_nps:
                return customer
        raise AssertionError("the demo plan has no customer with orders, a complaint and an NPS answer")

    def customer_id(self, customer: CustomerPlan) -> str:
        with self.client() as http:
            page = http.get(f"{self.urls['customer']}/v1/customers", params={"email": customer.email}).json()
        return str(page["items"][0]["id"])


def _start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (ARTIFACTS / "logs" / f"{name}.log").open("ab")
    return subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _wait_ready(platform: Platform, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(platform.urls)
    while pending:
        for name, url in list(pending.items()):
            process = platform.processes[f"{name}-api"]
            if process.poll() is not None:
                raise RuntimeError(f"{name}-api exited with {process.returncode}; see {ARTIFACTS}/logs/{name}-api.log")
            try:
                if httpx.get(f"{url}/health/ready", timeout=2.0).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def platform(database_factory: DatabaseFactory, kafka_bootstrap: str) -> Iterator[Platform]:
    """Every API, relay and worker running on fresh databases and topics, with a demo loaded."""
    (ARTIFACTS / "logs").mkdir(parents=True, exist_ok=True)
    prefix = f"e2e{uuid.uuid4().hex[:8]}."
    settings = PlatformSettings(environment="test", kafka_bootstrap_servers=kafka_bootstrap,
                                kafka_topic_prefix=prefix, kafka_topic_partitions=2)
    ensure_topics(kafka_bootstrap, platform_topics(settings))
    dsns = {name: _in_thread(database_factory.create(name)) for name in SERVICES}
    ports = {name: _free_port() for name in SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "LOG_FORMAT": "json",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "KAFKA_TOPIC_PARTITIONS": "2",
        "TICKETING_SLA_POLICY": FAST_SLA,
        "TICKETING_SCHEDULER_INTERVAL_SECONDS": "5",
        "CUSTOMER_OVERDUE_SCAN_INTERVAL_SECONDS": "5",
        "ANALYTICS_SWEEP_INTERVAL_SECONDS": "30",
        "CONSOLE_LIVE_POLL_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for name in SERVICES:
        env[f"{name.upper()}_DATABASE_URL"] = dsns[name]
        env[f"{name.upper()}_HTTP_PORT"] = str(ports[name])
        env[f"{name.upper()}_API_URL"] = urls[name]
    platform = Platform(urls=urls, env=env, settings=settings, as_of=datetime.now(UTC).replace(microsecond=0),
                        admin_token=mint_token(settings, "e2e-admin", ["admin"], ttl_seconds=4 * 3600))
    c360 = [str(Path(sys.executable).parent / "c360")]
    try:
        for name in SERVICES:
            api = [sys.executable, "-m", "tests.e2e.console_app"] if name == "analytics" else [*c360, "api", name]
            platform.processes[f"{name}-api"] = _start(f"{name}-api", api, env)
            platform.processes[f"{name}-relay"] = _start(f"{name}-relay", [*c360, "relay", name], env)
            for worker in WORKERS[name]:
                process = _start(f"{name}-{worker}", [*c360, "worker", name, worker], env)
                platform.processes[f"{name}-{worker}"] = process
        _wait_ready(platform)
        demo = subprocess.run(
            [sys.executable, "-m", "demo", "--customers", str(DEMO_CUSTOMERS), "--months", str(DEMO_MONTHS),
             "--seed", str(DEMO_SEED), "--as-of", platform.as_of.isoformat(), "--no-progress",
             "--token", platform.admin_token],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
        )
        (ARTIFACTS / "logs" / "demo.log").write_text(demo.stdout + demo.stderr)
        if demo.returncode != 0:
            raise RuntimeError(f"the demo failed: {demo.stderr[-2000:]}")
        yield platform
    finally:
        _stop(platform.processes)
        _in_thread(database_factory.drop([dsn.rsplit("/", 1)[1] for dsn in dsns.values()]))
        delete_topics(kafka_bootstrap, prefix)


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


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under ``test-artifacts/e2e/``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def eventually(check: Any, *, timeout: float = 90.0, interval: float = 1.0, what: str = "condition") -> Any:
    """Poll ``check()`` until it returns something truthy (the platform is eventually consistent)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
