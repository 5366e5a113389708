"""The platform as real processes for the erasure proof: fresh databases, a unique topic prefix.

Every API (ports 19001-19004), every outbox relay and every consumer that moves personal data or
acknowledges an erasure runs exactly as in production (``c360 api|relay|worker``). The fixture stops
exactly the processes it started, by pid, then drops its databases and deletes its topics. Logs go
to ``test-artifacts/privacy/logs/``.
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
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from shared.settings import PlatformSettings
from shared.testing.plugin import REPO_ROOT, DatabaseFactory
from shared.topics import delete_topics, ensure_topics, platform_topics
from shared.web.auth import mint_token

T = TypeVar("T")
ARTIFACTS = REPO_ROOT / "test-artifacts" / "privacy"
SERVICES = ("customer", "ticketing", "campaigns", "analytics")
PORTS = {"customer": 19001, "ticketing": 19002, "campaigns": 19003, "analytics": 19004}
WORKERS = {
    "customer": ("erasure-acks",),
    "ticketing": ("customer-replica",),
    "campaigns": ("engine",),
    "analytics": ("projector",),
}
"""The consumers personal data flows through, and the one collecting acknowledgements (schedulers,
timers and sweeps move no personal data and are left out to spare the machine's two cores)."""


def in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh loop in a worker thread (safe whatever runs here)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass
class Platform:
    """The running processes, their URLs, databases and environment, and an admin token."""

    urls: dict[str, str]
    dsns: dict[str, str]
    env: dict[str, str]
    settings: PlatformSettings
    admin_token: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return self.settings.kafka_topic_prefix

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(headers={"Authorization": f"Bearer {token or self.admin_token}"}, timeout=30.0)

    def stop(self, name: str) -> None:
        """Stop one process we started (SIGTERM, then SIGKILL after 15 s)."""
        _stop({name: self.processes[name]})

    def run(self, args: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a one-off command with the platform's environment (e.g. a rebuild)."""
        return subprocess.run(args, cwd=REPO_ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)


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
        time.sleep(0.3)


@pytest.fixture(scope="module")
def privacy_platform(database_factory: DatabaseFactory, kafka_bootstrap: str) -> Iterator[Platform]:
    """Every API, relay and personal-data consumer running on fresh databases and topics."""
    (ARTIFACTS / "logs").mkdir(parents=True, exist_ok=True)
    prefix = f"privacy{uuid.uuid4().hex[:8]}."
    settings = PlatformSettings(environment="test", kafka_bootstrap_servers=kafka_bootstrap,
                                kafka_topic_prefix=prefix, kafka_topic_partitions=2)
    ensure_topics(kafka_bootstrap, platform_topics(settings))
    dsns = {name: in_thread(database_factory.create(name)) for name in SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in PORTS.items()}
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "LOG_FORMAT": "json",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "KAFKA_TOPIC_PARTITIONS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    for name in SERVICES:
        env[f"{name.upper()}_DATABASE_URL"] = dsns[name]
        env[f"{name.upper()}_HTTP_PORT"] = str(PORTS[name])
        env[f"{name.upper()}_API_URL"] = urls[name]
    platform = Platform(urls=urls, dsns=dsns, env=env, settings=settings,
                        admin_token=mint_token(settings, "privacy-officer", ["admin"], ttl_seconds=3600))
    c360 = str(Path(sys.executable).parent / "c360")
    try:
        for name in SERVICES:
            platform.processes[f"{name}-api"] = _start(f"{name}-api", [c360, "api", name], env)
            platform.processes[f"{name}-relay"] = _start(f"{name}-relay", [c360, "relay", name], env)
            for worker in WORKERS[name]:
                platform.processes[f"{name}-{worker}"] = _start(f"{name}-{worker}", [c360, "worker", name, worker], env)
        _wait_ready(platform)
        yield platform
    finally:
        _stop(platform.processes)
        in_thread(database_factory.drop([dsn.rsplit("/", 1)[1] for dsn in dsns.values()]))
        delete_topics(kafka_bootstrap, prefix)
