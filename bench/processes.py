"""Real platform processes for the benchmarks (``c360 api|relay|worker``), stopped by pid, with peak RSS.

Logs go to ``bench/results/logs/`` (git-ignored). Peak RSS is the kernel's high-water mark
(``VmHWM`` in ``/proc/<pid>/status``): the largest resident set the process ever had; the current
RSS (``VmRSS``) is what the memory benchmark samples as events are applied.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.report import RESULTS_DIR
from bench.setup import REPO_ROOT, Scratch
from shared.outbox.topics import ensure_topics, platform_topics
from shared.settings import PlatformSettings
from shared.web.auth import mint_token

LOGS = RESULTS_DIR / "logs"
C360 = str(Path(sys.executable).parent / "c360")


class Processes:
    """Processes started by one benchmark; ``stop()`` ends exactly those, by pid."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**os.environ, "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", **env}
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        LOGS.mkdir(parents=True, exist_ok=True)
        log = (LOGS / f"{name}.log").open("ab")
        process = subprocess.Popen([C360, *args], cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.running[name] = process
        return process

    def check_alive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {LOGS / name}.log")

    def wait_ready(self, urls: dict[str, str], timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        pending = dict(urls)
        while pending:
            self.check_alive()
            for name, url in list(pending.items()):
                try:
                    if httpx.get(f"{url}/health/ready", timeout=2.0).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
            time.sleep(0.3)

    def peak_rss_mb(self) -> dict[str, float]:
        """Peak resident set (MiB) of every process still running."""
        return self._status_mb("VmHWM:")

    def rss_mb(self) -> dict[str, float]:
        """Current resident set (MiB) of every process still running."""
        return self._status_mb("VmRSS:")

    def _status_mb(self, field: str) -> dict[str, float]:
        values: dict[str, float] = {}
        for name, process in self.running.items():
            try:
                with open(f"/proc/{process.pid}/status") as status:
                    for line in status:
                        if line.startswith(field):
                            values[name] = int(line.split()[1]) / 1024
            except OSError:
                continue
        return values

    def stop(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.running.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


PLATFORM_WORKERS = {"ticketing": ("customer-replica",), "campaigns": ("engine",), "analytics": ("projector",)}
"""The workers a benchmark of the whole platform runs beside the four APIs and relays."""


@dataclass(frozen=True)
class Platform:
    """The whole platform started for one benchmark: its processes, each API's URL and an admin token."""

    processes: Processes
    urls: dict[str, str]
    token: str


def start_platform(scratches: Mapping[str, Scratch], prefix: str, *, ports: Mapping[str, int], partitions: int,
                   label: str) -> Platform:
    """Four APIs, four relays and the projection workers on the scratch databases and ``prefix``ed topics."""
    settings = PlatformSettings(environment="test", kafka_bootstrap_servers=scratches["customer"].bootstrap,
                                kafka_topic_prefix=prefix, kafka_topic_partitions=partitions)
    ensure_topics(settings.kafka_bootstrap_servers, platform_topics(settings))
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {"KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers, "KAFKA_TOPIC_PREFIX": prefix,
           "KAFKA_TOPIC_PARTITIONS": str(partitions), "ANALYTICS_CUSTOMER_API_URL": urls["customer"]}
    for name, scratch in scratches.items():
        env[f"{name.upper()}_DATABASE_URL"] = scratch.dsn
        env[f"{name.upper()}_HTTP_PORT"] = str(ports[name])
        env[f"{name.upper()}_API_URL"] = urls[name]
    processes = Processes(env)
    for name in ports:
        processes.start(f"{label}-{name}-api", "api", name)
        processes.start(f"{label}-{name}-relay", "relay", name)
        for worker in PLATFORM_WORKERS.get(name, ()):
            processes.start(f"{label}-{name}-{worker}", "worker", name, worker)
    return Platform(processes, urls, mint_token(settings, "bench", ["admin"], ttl_seconds=4 * 3600))
