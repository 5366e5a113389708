"""``deploy/local/demo.sh``, the step of ``make up`` that fills the platform: the first run loads the demo
through the APIs with its progress bar and starts one live stream; later runs do neither again.

Run against the platform of this folder with a home of its own (``C360_HOME``) and a seed and size of its
own, so it adds two customers no other test counts. (Named to run after the other platform tests here.)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from demo.plan import build_plan
from shared.testing.plugin import REPO_ROOT
from shared.testing.waiting import eventually_sync
from tests.demo.conftest import LoadedDemo

pytestmark = [pytest.mark.timeout(600)]

SCRIPT = REPO_ROOT / "deploy" / "local" / "demo.sh"
SEED, CUSTOMERS, MONTHS = 7, 2, 1


def run_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_make_ups_demo_step_loads_once_with_a_progress_bar_then_keeps_one_live_stream(
    loaded_demo: LoadedDemo, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {**loaded_demo.running.env, "C360_HOME": str(home), "DEMO_SEED": str(SEED),
           "DEMO_CUSTOMERS": str(CUSTOMERS), "DEMO_MONTHS": str(MONTHS)}
    live_pidfile = home / "run" / "proc-demo-live.pid"
    first = run_script(env)
    try:
        assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
        assert "loading demo data through the APIs (first run only)" in first.stdout
        assert re.search(r"demo: 100%.*\b(\d+)/\1\b", first.stderr), first.stderr[-1000:]  # the progress bar
        assert (home / "demo-loaded").is_file()
        for customer in build_plan(seed=SEED, customers=CUSTOMERS, months=MONTHS).customers:
            assert len(loaded_demo.get("customer", "customers", email=customer.email)["items"]) == 1, customer.email
        live = int(live_pidfile.read_text())
        assert alive(live) and "live demo activity started" in first.stdout
        # The pid file names the live demo itself, so 'make down' stops it (not a shell that leaves it running).
        assert b"--live" in Path(f"/proc/{live}/cmdline").read_bytes().split(b"\0")

        second = run_script(env)
        assert second.returncode == 0, second.stderr[-2000:]
        assert "loading demo data" not in second.stdout and "live demo activity started" not in second.stdout
        assert int(live_pidfile.read_text()) == live and alive(live)  # still the one stream
    finally:
        if live_pidfile.exists():
            pid = int(live_pidfile.read_text())
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
                eventually_sync(lambda: alive(pid), until=lambda running: not running, timeout=30,
                                message="the live stream to stop")
