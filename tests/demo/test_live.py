"""``python -m demo --live``: on a population an earlier run loaded, a gentle stream of activity, now,
until it is told to stop. (Named to run after the other platform tests of this folder: it adds
activity in the current month, which their month-by-month comparisons with the plan do not expect.)"""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.testing.plugin import REPO_ROOT
from shared.testing.waiting import eventually_sync
from tests.demo.conftest import DEMO_CUSTOMERS, DEMO_MONTHS, LoadedDemo
from tests.demo.test_demo_loaded import every, moment

pytestmark = [pytest.mark.timeout(600)]

LIVE_SUBJECT = "Delivery is late again"


def activity_since(demo: LoadedDemo, started: datetime) -> dict[str, int]:
    """Tickets opened and orders placed at or after ``started`` (real time: live actions are not replayed)."""
    tickets = [t for t in every(demo, "ticketing", "tickets", limit=200) if moment(t["opened_at"]) >= started]
    orders = 0
    for customer in demo.plan.customers[:DEMO_CUSTOMERS]:
        found = demo.get("customer", "customers", email=customer.email)["items"]
        page = demo.get("customer", f"customers/{found[0]['id']}/orders", limit=100)
        orders += sum(moment(o["placed_at"]) >= started for o in page["items"])
    return {"complaints": sum(t["subject"] == LIVE_SUBJECT for t in tickets), "orders": orders}


def test_live_mode_builds_on_the_loaded_population_and_keeps_activity_going_until_stopped(
    loaded_demo: LoadedDemo,
) -> None:
    plan = loaded_demo.plan
    started = datetime.now(UTC) - timedelta(seconds=1)
    assert activity_since(loaded_demo, started) == {"complaints": 0, "orders": 0}
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--customers", str(DEMO_CUSTOMERS), "--months", str(DEMO_MONTHS),
         "--seed", str(plan.seed), "--as-of", plan.now.isoformat(), "--live", "--live-interval", "0.2",
         "--no-progress", "--token", loaded_demo.admin_token],
        cwd=REPO_ROOT, env=loaded_demo.running.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen: dict[str, Any] = eventually_sync(
            lambda: activity_since(loaded_demo, started), until=lambda a: a["complaints"] >= 2 and a["orders"] >= 2,
            timeout=180.0, interval=1.0, message="live complaints and orders")
        assert process.poll() is None, "live mode keeps going"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err[-3000:]
    assert f"demo: {DEMO_CUSTOMERS} customers of an earlier load found; not replaying their history" in out
    stopped = [line for line in out.splitlines() if line.startswith("demo: live mode stopped after ")]
    assert stopped and int(stopped[0].split()[-2]) >= seen["complaints"] + seen["orders"], out
    assert len(every(loaded_demo, "customer", "customers", limit=200)) == DEMO_CUSTOMERS, "nobody registered twice"
