"""Start-up: how long ``make up`` takes to bring Kafka and PostgreSQL up, cold and warm.

The cold figure runs the very scripts ``make up`` runs (``deploy/local/postgres.sh`` and
``kafka.sh``) in a throw-away ``C360_HOME`` on spare ports, so nothing of the local run is touched:
a new PostgreSQL cluster is initialised and started, Kafka's storage is formatted and the broker
started, each script returning only once its server answers (PostgreSQL a login, Kafka a metadata
request). Kafka's jars are the cached ones, as on every ``make up`` after the first. The warm figure
runs the same scripts again with both servers running, which is what a second ``make up`` does first.

A second ``make up`` of the whole platform (every service and worker already running, demo loaded)
is timed too, but only when the local platform is up (``make up`` ran): starting it just to time it
would load the demo into the developer's databases.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.report import Figure
from bench.setup import REPO_ROOT, Size
from shared.testing.platform import PrivateKafka, PrivatePostgres

SIZE = Size(default=1, smoke=1, full=3, counts="cold starts")
COLD_TARGET_S = 60.0
WARM_TARGET_S = 10.0
LOCAL_RUN = REPO_ROOT / ".local" / "run"


def _timed_starts(pg: PrivatePostgres, kafka: PrivateKafka) -> float:
    started = time.perf_counter()
    pg.start()
    kafka.start()
    return time.perf_counter() - started


def _cold_then_warm() -> tuple[float, float]:
    pg, kafka = PrivatePostgres(), PrivateKafka()
    try:
        cold = _timed_starts(pg, kafka)
        warm = _timed_starts(pg, kafka)
    finally:
        kafka.destroy()
        pg.destroy()
    return cold, warm


def local_platform_running(run_dir: Path = LOCAL_RUN) -> bool:
    """Whether ``make up`` is up: its process pid files exist and every one names a live process."""
    pidfiles = list(run_dir.glob("proc-*.pid"))
    if not pidfiles:
        return False
    for pidfile in pidfiles:
        try:
            pid = int(pidfile.read_text().strip())
        except ValueError:
            return False
        if not Path(f"/proc/{pid}").exists():
            return False
    return True


def _warm_make_up() -> float:
    started = time.perf_counter()
    finished = subprocess.run(["make", "-s", "up"], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"make up failed: {finished.stderr[-2000:]}")
    return seconds


async def run(size: int) -> list[Figure]:
    colds: list[float] = []
    warms: list[float] = []
    for _ in range(size):
        cold, warm = await asyncio.to_thread(_cold_then_warm)
        colds.append(cold)
        warms.append(warm)
    figures = [
        Figure("startup", "cold: Kafka + PostgreSQL ready (jars cached)", statistics.median(colds), "s",
               target=COLD_TARGET_S, op="<=", comparison=f"{size} run(s), slowest {max(colds):.1f} s; new "
                                                          "cluster, storage formatted, metadata answered"),
        Figure("startup", "warm: the same scripts, both running", statistics.median(warms), "s",
               target=WARM_TARGET_S, op="<="),
    ]
    if local_platform_running():
        figures.append(Figure("startup", "warm make up (whole platform running)",
                              await asyncio.to_thread(_warm_make_up), "s", target=WARM_TARGET_S, op="<="))
    else:
        print("startup: the local platform is not running; run 'make up' first to time a warm 'make up'",
              file=sys.stderr)
    return figures
