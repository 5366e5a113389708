"""Processes die mid-load (kill -9), a worker dies in a rebalance, offsets are rewound by hand.

One platform (every API, relay and worker as real processes on the real broker and server) serves
the three tests of this module in order; each drives its own workload, and the ground truth grows
across them so the global figures (NPS counts) are checked against everything accepted so far.
"""

from __future__ import annotations

import functools
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.testing.platform import RunningPlatform, run_blocking, start_platform, stop_platform
from shared.testing.plugin import DatabaseFactory
from shared.testing.waiting import eventually_sync
from tests.chaos import groups
from tests.chaos.workload import GroundTruth, Workload, verify_all

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

RECOVERY_SECONDS = 150.0
"""Stated recovery bound: from the last restart to read models equal to the ground truth.

A killed Faust worker leaves a ghost member in its consumer group until the broker's session
timeout expires; its partitions are idle until then, which dominates this figure.
"""

VICTIMS = (
    "customer-api", "campaigns-api", "ticketing-api",
    "customer-relay", "ticketing-relay", "campaigns-relay",
    "analytics-projector", "campaigns-engine", "ticketing-customer-replica",
)
"""One of each process kind at least, picked for the traffic they carry in the workload."""


@pytest.fixture(scope="module")
def platform(database_factory: DatabaseFactory, kafka_bootstrap: str) -> Iterator[RunningPlatform]:
    running = start_platform(database_factory=database_factory, kafka_bootstrap=kafka_bootstrap, name="faults")
    try:
        yield running
    finally:
        stop_platform(running, database_factory)


@pytest.fixture(scope="module")
def truth() -> GroundTruth:
    return GroundTruth()


def test_kill_minus_9_of_every_api_relay_and_faust_worker_mid_load_loses_and_doubles_nothing(
    platform: RunningPlatform, truth: GroundTruth
) -> None:
    load = Workload(platform, concurrency=4, truth=truth).start()
    try:
        for victim in VICTIMS:
            load.wait_for_customers(len(truth.customers) + 2)
            platform.kill(victim)
            platform.restart(victim)
        load.wait_for_customers(len(truth.customers) + 2)
    finally:
        load.stop()
    restarted = time.monotonic()
    converged = run_blocking(verify_all(platform, truth, recovery_seconds=RECOVERY_SECONDS))
    print(f"\n{len(truth.customers)} customers, {truth.calls} calls, {truth.retries} retries; "
          f"read models equal to the ground truth {converged:.1f}s after the last restart "
          f"({time.monotonic() - restarted:.1f}s including the checks)")
    assert truth.retries > 0, "the kills must have hit requests in flight for the test to mean anything"


def test_a_worker_killed_during_a_rebalance_loses_and_doubles_nothing(
    platform: RunningPlatform, truth: GroundTruth
) -> None:
    bootstrap = platform.settings.kafka_bootstrap_servers
    group = next(g for g in groups.platform_groups(bootstrap, platform.prefix) if "analytics" in g or "360" in g)
    load = Workload(platform, concurrency=3, truth=truth).start()
    try:
        load.wait_for_customers(len(truth.customers) + 2)
        platform.start_copy("analytics-projector", "analytics-projector-2")
        # The second member's join starts a rebalance; kill the first while it is going on.
        eventually_sync(lambda: groups.state(bootstrap, group), until=lambda s: s in ("PreparingRebalance",
                        "CompletingRebalance"), timeout=60, interval=0.05, message="the group to start rebalancing")
        platform.kill("analytics-projector")
        load.wait_for_customers(len(truth.customers) + 3)
    finally:
        load.stop()
    converged = run_blocking(verify_all(platform, truth, recovery_seconds=RECOVERY_SECONDS))
    print(f"\nrebalance: read models equal to the ground truth {converged:.1f}s after the load stopped")
    assert platform.alive("analytics-projector-2")
    platform.restart("analytics-projector")
    platform.kill("analytics-projector-2", signal.SIGTERM, timeout=60)


def _snapshot(platform: RunningPlatform, truth: GroundTruth) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {platform.token('analytics:read')}"}
    with httpx.Client(headers=headers, timeout=20.0) as http:
        views = {}
        for customer_id in list(truth.customers)[:15]:
            view = http.get(platform.url("analytics", f"/v1/customers/{customer_id}/360")).json()
            view.pop("freshness", None)
            timeline = http.get(platform.url("analytics", f"/v1/customers/{customer_id}/timeline"),
                                params={"limit": 200}).json()
            views[customer_id] = (view, [item["event_id"] for item in timeline["items"]])
    counts = {}
    for service, dsn in platform.dsns.items():
        counts[service] = run_blocking(_count_events(dsn))
    return {"views": views, "events": counts}


async def _count_events(dsn: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        # Reading the 360 and the timeline (the snapshot itself) records each read (the audit trail):
        # those are the only events a snapshot adds; redelivery must add none.
        return int(await conn.fetchval("select count(*) from events where event_type <> 'PersonalDataViewed'"))
    finally:
        await conn.close()


def test_duplicate_delivery_by_rewound_offsets_leaves_every_read_model_unchanged(
    platform: RunningPlatform, truth: GroundTruth
) -> None:
    bootstrap = platform.settings.kafka_bootstrap_servers
    # Every worker (consumers, schedulers): no member may remain in a group that is being rewound.
    consumers = [name for name in platform.commands if not name.endswith(("-api", "-relay", "-2"))]
    run_blocking(verify_all(platform, truth, recovery_seconds=RECOVERY_SECONDS))
    before = _snapshot(platform, truth)
    for name in consumers:
        if not platform.kill(name, signal.SIGTERM, timeout=60):
            print(f"\n{name} ignored SIGTERM for 60 s")
    rewound = 0
    for group in groups.platform_groups(bootstrap, platform.prefix):
        eventually_sync(functools.partial(groups.members, bootstrap, group), until=lambda n: n == 0, timeout=90,
                        interval=0.5, message=f"{group} to be empty")
        rewound += groups.rewind_to_beginning(bootstrap, group)
    assert rewound > 100, "the rewind must send a real volume of records a second time"
    for name in consumers:
        platform.start(name)
    for group in groups.platform_groups(bootstrap, platform.prefix):
        eventually_sync(functools.partial(groups.lag, bootstrap, group), until=lambda n: n == 0, timeout=120,
                        interval=0.5, message=f"{group} to consume everything again")
    after = _snapshot(platform, truth)
    assert after == before
    run_blocking(verify_all(platform, truth, recovery_seconds=30))
    print(f"\nduplicate delivery: {rewound} records delivered a second time, read models unchanged")
