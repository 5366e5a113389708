"""A marketing policy change reaches the running engine: real Kafka, real PostgreSQL, no restart.

The engine runs as the real Faust worker; the policy is changed through the HTTP API (another
process in production, the same database); the next order's decision uses the new version and says
so, in the ``decisions`` row and in the event published on ``campaigns.events``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx

from services.campaigns.application.engine import fire_due_timers
from services.campaigns.bootstrap import build_app
from shared.testing.clock import FixedClock
from shared.web import mint_token

from .kafka_support import NOON, Stage, a_registration, an_order, envelope


@asynccontextmanager
async def policy_api(stage: Stage) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(stage.settings, clock=FixedClock(NOON))
    token = mint_token(stage.settings, "ops-lead", ["admin"])
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        yield http


async def decision_of(stage: Stage, customer: str) -> tuple[str, str | None, int | None]:
    row = await stage.pool.fetchrow("select outcome, reason, policy_version from decisions where customer_id = $1",
                                    customer)
    assert row is not None, f"no decision for {customer}"
    return row["outcome"], row["reason"], row["policy_version"]


async def test_a_policy_change_applies_to_the_next_decision_of_the_running_engine(stage: Stage) -> None:
    campaign_id = await stage.campaign(budget=None)
    before, after = str(uuid.uuid4()), str(uuid.uuid4())
    first = envelope(an_order(before))
    await stage.publish(envelope(a_registration(before)), envelope(a_registration(after)), first)
    await stage.start_engine()
    await stage.until_applied(first)
    assert await decision_of(stage, before) == ("sent", None, 0)  # the deployment's defaults

    # Today (the stage's clock) becomes a send blackout, and SMS gets its own cap.
    async with policy_api(stage) as api:
        changed = await api.put("/v1/marketing-policy", headers={"If-Match": '"0"'}, json={
            "caps": [{"channel": None, "max_messages": 3, "window_days": 7},
                     {"channel": "sms", "max_messages": 1, "window_days": 1}],
            "quiet_hours": {"start": "21:00", "end": "08:00"},
            "blackouts": [{"day": NOON.date().isoformat(), "name": "Company holiday"}],
            "complaint_hold": True, "sla_breach_hold_days": 7, "detractor_hold_days": 30})
        assert changed.status_code == 200, changed.text
    committed = time.monotonic()

    second = envelope(an_order(after))
    await stage.publish(second)
    await stage.until_applied(second)
    took = time.monotonic() - committed
    await stage.stop_engine()

    assert await decision_of(stage, after) == ("deferred", "quiet_hours_deferred", 1)
    assert took < 30, f"the change took {took:.1f} s to reach a decision"
    await stage.drain()
    suppressed = [r.value for r in await stage.campaign_events("MessageSuppressed")]
    assert [(s["customer_id"], s["policy_version"], s["detail"]) for s in suppressed] == [
        (after, 1, f"send blackout on {NOON.date().isoformat()}")]
    expected_until = f"{(NOON.date() + timedelta(days=1)).isoformat()}T08:00:00Z"
    assert suppressed[0]["deferred_until"] == expected_until
    sent = [r.value for r in await stage.campaign_events("OfferSent")]
    assert [(s["customer_id"], s["policy_version"]) for s in sent] == [(before, 0)]
    changes = await stage.campaign_events("MarketingPolicyChanged")
    assert [(r.key, r.value["changed_by"], r.value["changed"]) for r in changes] == [
        (b"marketing-policy", "ops-lead", ["caps", "blackouts"])]

    # When the blackout is over the deferred decision is taken again, under the version then current.
    next_morning = NOON.replace(hour=8) + timedelta(days=1)
    assert await fire_due_timers(stage.pool, stage.engine, now=next_morning) == 1
    assert await decision_of(stage, after) == ("sent", None, 1)
    assert await stage.decisions(campaign_id) == 2


async def test_a_channel_at_its_cap_in_the_database_sends_on_the_next_channel(stage: Stage) -> None:
    campaign_id = await stage.campaign(budget=None, caps={"per_customer": 5},
                                       action={"kind": "message", "channels": ["sms", "email"], "template": "hello"})
    async with policy_api(stage) as api:
        changed = await api.put("/v1/marketing-policy", json={
            "caps": [{"channel": None, "max_messages": 3, "window_days": 7},
                     {"channel": "sms", "max_messages": 1, "window_days": 1}],
            "quiet_hours": None, "complaint_hold": True, "sla_breach_hold_days": 7, "detractor_hold_days": 30})
        assert changed.status_code == 200, changed.text
    customer = str(uuid.uuid4())
    await stage.deliver(envelope(a_registration(customer)))
    for _ in range(4):
        await stage.deliver(envelope(an_order(customer)))
    rows = await stage.pool.fetch(
        "select outcome, reason, channel, policy_version from decisions where campaign_id = $1", uuid.UUID(campaign_id))
    # Four orders on one day: SMS once (its cap), then email, until 3 in 7 days overall is reached.
    assert sorted((r["outcome"], r["reason"], r["channel"], r["policy_version"]) for r in rows) == sorted([
        ("sent", None, "sms", 1), ("sent", None, "email", 1), ("sent", None, "email", 1),
        ("suppressed", "frequency_cap", None, 1)])
