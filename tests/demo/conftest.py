"""Fixtures for the demo against the real platform: APIs, relays and analytics workers as processes.

The same approach as ``tests/e2e/conftest.py``: fresh databases cloned from migrated templates, a
unique topic prefix, real Kafka and PostgreSQL, and only the processes started here stopped (by
pid). The APIs listen on ports 17001-17004, so the session never collides with a platform the lead
runs on 8001-8004. Analytics reads the demo's rules (``demo/analytics-rules.yaml``), scaled to months
of history. Logs go to ``test-artifacts/demo/logs/``.
"""

from __future__ import annotations

import asyncio
import os
import signal
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

from demo.plan import PopulationPlan, build_plan
from shared.settings import PlatformSettings
from shared.testing.plugin import REPO_ROOT, DatabaseFactory
from shared.topics import delete_topics, ensure_topics, platform_topics
from shared.web.auth import mint_token

T = TypeVar("T")
ARTIFACTS = REPO_ROOT / "test-artifacts" / "demo"
SERVICES = ("customer", "ticketing", "campaigns", "analytics")
PORTS = {"customer": 17001, "ticketing": 17002, "campaigns": 17003, "analytics": 17004}
WORKERS = {"analytics": ("projector",)}
"""Only what the demo's history needs: the 360 projection. Not the sweep: it evaluates at the real
clock and dates a dissolution at its own run, which would race the history's own dating."""
RELAYS = ("customer", "ticketing", "campaigns")
DEMO_CUSTOMERS = 30
DEMO_MONTHS = 4


def a_seed_with_a_churner(now: datetime) -> int:
    """The first seed whose plan, ending at ``now``, has a churner the win-back survey already reached.

    The plan depends on the present (what has happened by now), so the seed is chosen, not fixed.
    """
    for seed in range(11, 200):
        plan = build_plan(seed=seed, customers=DEMO_CUSTOMERS, months=DEMO_MONTHS, now=now)
        if any(s.key.endswith("-winback") for c in plan.customers for s in c.surveys):
            return seed
    raise AssertionError("no seed gives a churner within the demo's months")


def _in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a fresh loop in a worker thread (safe whatever loop runs here)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass
class LoadedDemo:
    """The running platform with a demo loaded: URLs, an admin token and the plan that was replayed."""

    urls: dict[str, str]
    admin_token: str
    plan: PopulationPlan
    demo_output: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def get(self, service: str, path: str, **params: Any) -> Any:
        answer = httpx.get(f"{self.urls[service]}/v1/{path}", params=params, timeout=30.0,
                           headers={"Authorization": f"Bearer {self.admin_token}"})
        answer.raise_for_status()
        return answer.json()


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


def _wait_ready(urls: dict[str, str], processes: dict[str, subprocess.Popen[bytes]], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    while pending:
        for name, url in list(pending.items()):
            process = processes[f"{name}-api"]
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
def loaded_demo(database_factory: DatabaseFactory, kafka_bootstrap: str) -> Iterator[LoadedDemo]:
    """APIs, relays and analytics workers on fresh databases and topics, with a small demo replayed."""
    (ARTIFACTS / "logs").mkdir(parents=True, exist_ok=True)
    prefix = f"demo{uuid.uuid4().hex[:8]}."
    settings = PlatformSettings(environment="test", kafka_bootstrap_servers=kafka_bootstrap,
                                kafka_topic_prefix=prefix, kafka_topic_partitions=2)
    ensure_topics(kafka_bootstrap, platform_topics(settings))
    dsns = {name: _in_thread(database_factory.create(name)) for name in SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in PORTS.items()}
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "LOG_FORMAT": "json",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "KAFKA_TOPIC_PARTITIONS": "2",
        "ANALYTICS_RULES_FILE": str(REPO_ROOT / "demo" / "analytics-rules.yaml"),
        "ANALYTICS_SWEEP_INTERVAL_SECONDS": "10",
        "PYTHONUNBUFFERED": "1",
    }
    for name in SERVICES:
        env[f"{name.upper()}_DATABASE_URL"] = dsns[name]
        env[f"{name.upper()}_HTTP_PORT"] = str(PORTS[name])
        env[f"{name.upper()}_API_URL"] = urls[name]
    admin = mint_token(settings, "demo-tester", ["admin"], ttl_seconds=4 * 3600)
    # One present for the generator and the plan the tests compare with (the plan depends on it).
    now = datetime.now(UTC).replace(microsecond=0)
    seed = a_seed_with_a_churner(now)
    plan = build_plan(seed=seed, customers=DEMO_CUSTOMERS, months=DEMO_MONTHS, now=now)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    c360 = [str(Path(sys.executable).parent / "c360")]
    try:
        for name in SERVICES:
            processes[f"{name}-api"] = _start(f"{name}-api", [*c360, "api", name], env)
        for name in RELAYS:
            processes[f"{name}-relay"] = _start(f"{name}-relay", [*c360, "relay", name], env)
        for name, workers in WORKERS.items():
            for worker in workers:
                processes[f"{name}-{worker}"] = _start(f"{name}-{worker}", [*c360, "worker", name, worker], env)
        _wait_ready(urls, processes)
        started = time.monotonic()
        demo = subprocess.run(
            [sys.executable, "-m", "demo", "--customers", str(DEMO_CUSTOMERS), "--months", str(DEMO_MONTHS),
             "--seed", str(seed), "--as-of", now.isoformat(), "--no-progress", "--token", admin],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
        )
        output = demo.stdout + demo.stderr + f"\n(load took {time.monotonic() - started:.1f}s)\n"
        (ARTIFACTS / "logs" / "demo.log").write_text(output)
        if demo.returncode != 0:
            raise RuntimeError(f"the demo failed: {demo.stderr[-2000:]}")
        yield LoadedDemo(urls=urls, admin_token=admin, plan=plan, demo_output=output, processes=processes)
    finally:
        _stop(processes)
        _in_thread(database_factory.drop([dsn.rsplit("/", 1)[1] for dsn in dsns.values()]))
        delete_topics(kafka_bootstrap, prefix)
