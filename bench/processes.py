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
from pathlib import Path

import httpx

from bench.report import RESULTS_DIR
from bench.setup import REPO_ROOT

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
