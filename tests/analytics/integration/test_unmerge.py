"""Unmerging separates two histories again in the 360 view, exactly as if they had never met."""

from __future__ import annotations

from typing import Any

from services.analytics.config import AnalyticsSettings
from shared.consuming.consumer import apply_records
from shared.contracts.customer import CustomersMerged, CustomersUnmerged
from shared.testing.clock import FixedClock
from tests.analytics.builders import at, fact, new_customer_id, order_placed, registered, survey_answered
from tests.analytics.integration.support import api, projector, records, token

CLOCK = FixedClock(at(10))


def comparable(view: dict[str, Any]) -> dict[str, Any]:
    """The parts of a view that depend only on the customer's own history."""
    return {k: view[k] for k in ("status", "orders", "payments", "feedback")} | {
        "merged_ids": view["profile"]["merged_ids"]
    }


async def views(settings: AnalyticsSettings, *ids: str) -> list[dict[str, Any]]:
    async with api(settings, CLOCK) as client:
        return [(await client.get(f"/v1/customers/{i}/360", headers=token(settings))).json() for i in ids]


async def test_unmerge_gives_each_customer_back_exactly_their_own_history(settings, pool) -> None:
    survivor, duplicate = new_customer_id(), new_customer_id()
    own = [registered(survivor, at(0)), order_placed(survivor, at(1), total="300.00", margin="90.00"),
           survey_answered(survivor, 9, at(2))]
    theirs = [registered(duplicate, at(0, 1)), order_placed(duplicate, at(1, 2), total="70.00", margin="20.00"),
              survey_answered(duplicate, 2, at(2, 3))]
    await apply_records(pool, projector(settings), records([*own, *theirs]))
    before = [comparable(v) for v in await views(settings, survivor, duplicate)]

    merge = fact(CustomersMerged(customer_id=survivor, duplicate_id=duplicate, merged_at=at(3)), at(3))
    await apply_records(pool, projector(settings), records([merge]))
    merged, gone = await views(settings, survivor, duplicate)
    assert merged["orders"]["count"] == 2 and gone["status"] == "merged"

    unmerge = fact(CustomersUnmerged(customer_id=survivor, duplicate_id=duplicate, unmerged_at=at(4)), at(4))
    await apply_records(pool, projector(settings), records([unmerge]))
    after = [comparable(v) for v in await views(settings, survivor, duplicate)]
    assert after == before
