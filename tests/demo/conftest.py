"""Fixtures for the demo against the real platform: APIs, relays and analytics workers as processes.

Started with ``shared.testing.platform.start_platform`` like every other whole-platform test: fresh
databases cloned from migrated templates, a unique topic prefix, spare ports, real Kafka and
PostgreSQL, and only the processes started here stopped (by pid). Analytics reads the demo's rules
(``demo/analytics-rules.yaml``), scaled to months of history. Logs go to ``test-artifacts/demo/logs/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from demo.plan import MANAGER_DELAY, CustomerPlan, PopulationPlan, TicketPlan, build_plan
from shared.testing.platform import PlatformView, load_demo, start_platform, stop_platform
from shared.testing.plugin import REPO_ROOT, DatabaseFactory

ARTIFACTS = REPO_ROOT / "test-artifacts" / "demo"
WORKERS = {"analytics": ("projector", "alerts")}
"""Only what the demo's history needs: the 360 projection, and the account managers' alerts. Not the
sweep: it evaluates at the real clock and dates a dissolution at its own run, which would race the
history's own dating."""
RELAYS = ("customer", "ticketing", "campaigns")
DEMO_CUSTOMERS = 30
DEMO_MONTHS = 5
"""Five, not four: a churner needs more than 90 days of history, and four months starting on the 1st give
only 89-90 days on 1 March, 1 April and 1 May (no seed had a churner on those days)."""
DEMO_ENV = {
    "ANALYTICS_RULES_FILE": str(REPO_ROOT / "demo" / "analytics-rules.yaml"),
    "ANALYTICS_SWEEP_INTERVAL_SECONDS": "10",
}


def key_account_complaints(plan: PopulationPlan) -> list[tuple[CustomerPlan, TicketPlan]]:
    """Complaints of customers with an account manager, filed a day or more after the manager was assigned."""
    return [(c, t) for c in plan.customers if c.account_manager for t in c.tickets
            if t.kind == "complaint" and t.opened_at > c.registered_at + MANAGER_DELAY + timedelta(days=1)]


def a_seed_with_a_churner(now: datetime) -> int:
    """The first seed whose plan, ending at ``now``, has a churner the win-back survey already reached, and
    a key account's complaint (an account manager's alert).

    The plan depends on the present (what has happened by now), so the seed is chosen, not fixed.
    """
    for seed in range(11, 400):
        plan = build_plan(seed=seed, customers=DEMO_CUSTOMERS, months=DEMO_MONTHS, now=now)
        if any(s.key.endswith("-winback") for c in plan.customers for s in c.surveys) and key_account_complaints(plan):
            return seed
    raise AssertionError("no seed gives a churner and a key account's complaint within the demo's months")


@dataclass
class LoadedDemo(PlatformView):
    """The running platform with a demo loaded: URLs, an admin token and the plan that was replayed."""

    plan: PopulationPlan
    demo_output: str

    def get(self, service: str, path: str, **params: Any) -> Any:
        answer = httpx.get(f"{self.urls[service]}/v1/{path}", params=params, timeout=30.0,
                           headers={"Authorization": f"Bearer {self.admin_token}"})
        answer.raise_for_status()
        return answer.json()


@pytest.fixture(scope="session")
def loaded_demo(database_factory: DatabaseFactory, kafka_bootstrap: str) -> Iterator[LoadedDemo]:
    """APIs, relays and analytics workers on fresh databases and topics, with a small demo replayed."""
    # One present for the generator and the plan the tests compare with (the plan depends on it).
    now = datetime.now(UTC).replace(microsecond=0)
    seed = a_seed_with_a_churner(now)
    plan = build_plan(seed=seed, customers=DEMO_CUSTOMERS, months=DEMO_MONTHS, now=now)
    running = start_platform(database_factory=database_factory, kafka_bootstrap=kafka_bootstrap, name="demo",
                             workers=WORKERS, relays=RELAYS, extra_env=DEMO_ENV, log_dir=ARTIFACTS / "logs")
    try:
        output = load_demo(running, customers=DEMO_CUSTOMERS, months=DEMO_MONTHS, seed=seed, as_of=now)
        yield LoadedDemo(running=running, plan=plan, demo_output=output)
    finally:
        stop_platform(running, database_factory)
