"""Imported history goes to the campaigns replica in pipelined rounds: the same rows as one event at a time."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.campaigns.adapters.replica import UPDATERS, ReplicaChange, apply_many_to_replica, apply_to_replica

MakeDatabase = Callable[[str | None], Awaitable[str]]
CUSTOMERS = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(5)]
START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def random_change(rng: random.Random, n: int) -> ReplicaChange:
    """One consumed event of any type the replica folds, with data as ``model_dump`` gives it."""
    kind = rng.choice(sorted(UPDATERS))
    customer = rng.choice(CUSTOMERS)
    at = START + timedelta(hours=rng.randrange(0, 5000))
    other = rng.choice([c for c in CUSTOMERS if c != customer])
    data: dict[str, Any] = {
        "CustomerRegistered": {"consents": {"email": rng.random() < 0.5, "sms": rng.random() < 0.5, "push": True},
                               "birth_date": date(1980 + n % 20, 1 + n % 12, 1), "timezone": "Europe/Madrid",
                               "relationship_type": rng.choice(["b2c", "b2b"]), "interests": ["tea"]},
        "CustomerProfileUpdated": {"changed_fields": rng.sample(["birth_date", "timezone", "interests"], 2),
                                   "birth_date": date(1990, 5, 1 + n % 28), "timezone": "UTC", "interests": None},
        "ContactPreferencesChanged": {"channel": rng.choice(["email", "sms", "push"]), "granted": rng.random() < 0.5},
        "ServiceFollowupsChanged": {"granted": rng.random() < 0.5},
        "CustomersMerged": {"duplicate_id": other},
        "CustomersUnmerged": {"duplicate_id": other},
        "CustomerErased": {},
        "OrderPlaced": {"total": Decimal(rng.randrange(100, 90000)) / 100, "placed_at": at},
        "OrderCancelled": {"total": Decimal(rng.randrange(100, 90000)) / 100},
        "ComplaintFiled": {"ticket_id": f"T-{rng.randrange(4)}"},
        "TicketResolved": {"ticket_id": f"T-{rng.randrange(4)}"},
        "TicketClosed": {"ticket_id": f"T-{rng.randrange(4)}"},
        "SlaBreached": {"breached_at": at},
        "SegmentEntered": {"segment": rng.choice(["vip", "at_risk", "new"])},
        "SegmentExited": {"segment": rng.choice(["vip", "at_risk", "new"])},
        "RecommendationsChanged": {"recommendations": [{"sku": f"SKU-{rng.randrange(9)}"} for _ in range(2)]},
        "SurveyAnswered": {"nps_category": rng.choice(["detractor", "passive", "promoter"])},
        "LifecycleStageChanged": {"to_stage": rng.choice(["growth", "maturity", None])},
        "ChurnRiskChanged": {"to_band": rng.choice(["low", "high"])},
        "ValueTierChanged": {"to_tier": rng.choice(["gold", "bronze"])},
    }[kind]
    return kind, customer, data, at


async def replica_rows(dsn: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("select * from customer_replica order by customer_id")
    finally:
        await conn.close()
    return [{k: v for k, v in dict(row).items() if k != "updated_at"} for row in rows]


@pytest.mark.parametrize("seed", range(12))
async def test_a_batch_of_history_leaves_the_rows_one_event_at_a_time_leaves(make_database: MakeDatabase,
                                                                               seed: int) -> None:
    rng = random.Random(seed)
    changes = [random_change(rng, n) for n in range(80)]
    one_by_one, batched = await make_database("campaigns"), await make_database("campaigns")

    conn = await asyncpg.connect(one_by_one)
    try:
        async with conn.transaction():
            for change in changes:
                await apply_to_replica(conn, *change)
    finally:
        await conn.close()

    conn = await asyncpg.connect(batched)
    try:
        cuts = sorted(rng.sample(range(1, len(changes)), 3))  # batches of any size, as fetches come
        async with conn.transaction():
            for start, end in zip([0, *cuts], [*cuts, len(changes)], strict=True):
                await apply_many_to_replica(conn, changes[start:end])
    finally:
        await conn.close()

    expected = await replica_rows(one_by_one)
    assert len(expected) >= 4  # every kind of row was written: registered, merged, erased, counted
    assert await replica_rows(batched) == expected
