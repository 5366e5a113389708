"""Account managers' alerts (issue 21.2, 21.4) against the real database and the real broker.

The clock is pinned everywhere (the consumer's ``raised_at``, the sweep's reminders, the API's
acknowledgement), so these pass on any day.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from services.analytics.application.alerts import remind_replenishment, remind_special_days
from services.analytics.bootstrap import alerts_worker, event_store
from services.analytics.consumers.alerts import AlertRouter
from services.analytics.domain.model import Fact
from shared.consuming.consumer import ReceivedEvent
from shared.contracts import analytics, customer
from shared.events.catalog import CATALOG
from shared.store.db import create_pool
from shared.testing.clock import FixedClock
from shared.testing.kafka import drain_outbox, read_topic
from shared.testing.waiting import eventually
from tests.analytics.builders import (
    at,
    complaint_filed,
    erased,
    fact,
    new_customer_id,
    order_placed,
    registered,
    sla_breached,
    survey_answered,
)
from tests.analytics.integration.support import analytics_settings, api, envelope_of, token
from tests.analytics.integration.test_webhooks import StaticKeys, in_thread, publish

NOW = datetime(2026, 1, 20, 9, 0, tzinfo=UTC)


def assigned(cid: str, when: datetime, manager: str = "am-ayse") -> Fact:
    return fact(customer.AccountManagerAssigned(customer_id=cid, account_manager_id=manager, assigned_at=when), when)


def churn_up(cid: str, when: datetime, behind: Sequence[str]) -> Fact:
    return fact(analytics.ChurnRiskChanged(customer_id=cid, rule="churn.score", provenance=list(behind),
                                           decided_at=when, from_band="low", to_band="medium",
                                           score="0.4000"), when)


def received(facts: Sequence[Fact]) -> list[ReceivedEvent]:
    out = []
    for item in facts:
        envelope = envelope_of(item)
        out.append(ReceivedEvent(envelope, CATALOG.decode(item.event_type, envelope.type_name.version,
                                                          dict(item.data))))
    return out


async def apply(pool: asyncpg.Pool, router: AlertRouter, facts: Sequence[Fact]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await router.apply(conn, received(facts))


async def alerts_of(pool: asyncpg.Pool, cid: str) -> list[asyncpg.Record]:
    return await pool.fetch("select * from account_manager_alerts where customer_id = $1 order by decided_at, kind",
                            uuid.UUID(cid))


async def test_significant_events_at_a_managed_customer_raise_one_alert_per_kind_per_window(settings, pool) -> None:
    router = AlertRouter(rules=settings.rules, store=event_store(settings), clock=FixedClock(NOW))
    managed, unmanaged = new_customer_id(), new_customer_id()
    first_complaint = complaint_filed(managed, str(uuid.uuid4()), at(5))
    big = order_placed(managed, at(6), total="4500.00")
    breach = sla_breached(managed, str(uuid.uuid4()), at(7))
    detractor = survey_answered(managed, 2, at(8))
    churn = churn_up(managed, at(8, hours=1), [detractor.event_id])
    history = [
        registered(managed, at(0)), assigned(managed, at(0, hours=1)),
        order_placed(managed, at(1), total="1000.00"), order_placed(managed, at(2), total="1000.00"),
        order_placed(managed, at(3), total="1000.00"),
        first_complaint, big, breach,
        complaint_filed(managed, str(uuid.uuid4()), at(9)),  # inside the 7-day window of the first: no alert
        registered(unmanaged, at(0)), complaint_filed(unmanaged, str(uuid.uuid4()), at(5)),  # no manager: nothing
    ]
    await apply(pool, router, history[:6])
    await apply(pool, router, history[6:])
    await apply(pool, router, [detractor, churn])
    await apply(pool, router, [complaint_filed(managed, str(uuid.uuid4()), at(12, hours=10))])  # a new window

    rows = await alerts_of(pool, managed)
    assert [(r["kind"], r["decided_at"]) for r in rows] == [
        ("complaint", at(5)), ("large_order", at(6)), ("sla_breach", at(7)), ("detractor", at(8)),
        ("churn_risk_up", at(8, hours=1)), ("complaint", at(12, hours=10))]
    assert {r["account_manager_id"] for r in rows} == {"am-ayse"}
    assert {r["raised_at"] for r in rows} == {NOW}
    by_kind = {r["kind"]: r for r in rows}
    assert [str(p) for p in by_kind["large_order"]["provenance"]] == [big.event_id]
    assert "4.5x" in by_kind["large_order"]["reason"]
    assert [str(p) for p in by_kind["churn_risk_up"]["provenance"]][1:] == [detractor.event_id]
    assert await alerts_of(pool, unmanaged) == []

    # each alert is an event on analytics' stream (the outbox publishes it to analytics.events)
    published = await pool.fetch("select data from public.events where event_type = 'AccountManagerAlertRaised' "
                                 "and subject = $1", managed)
    assert sorted(r["data"]["kind"] for r in published) == sorted(r["kind"] for r in rows)
    assert {r["data"]["account_manager_id"] for r in published} == {"am-ayse"}


async def test_an_assignment_read_after_a_later_complaint_still_alerts_the_manager(settings, pool) -> None:
    """The topics are read side by side: the complaint (ticketing) may be read before the assignment made
    earlier (customer). Its alert waits for the assignment; what happened before the assignment does not."""
    router = AlertRouter(rules=settings.rules, store=event_store(settings), clock=FixedClock(NOW))
    late, unmanaged = new_customer_id(), new_customer_id()
    before = complaint_filed(late, str(uuid.uuid4()), at(1))
    after = complaint_filed(late, str(uuid.uuid4()), at(3))
    await apply(pool, router, [registered(late, at(0)), before, after])
    assert await alerts_of(pool, late) == []
    await apply(pool, router, [assigned(late, at(2))])
    rows = await alerts_of(pool, late)
    assert [(r["kind"], r["decided_at"], r["account_manager_id"], [str(p) for p in r["provenance"]]) for r in rows] == [
        ("complaint", at(3), "am-ayse", [after.event_id])]
    assert await pool.fetchval("select count(*) from alert_pending where customer_id = $1", uuid.UUID(late)) == 0

    await apply(pool, router, [registered(unmanaged, at(0)), complaint_filed(unmanaged, str(uuid.uuid4()), at(1)),
                               erased(unmanaged, at(2))])
    assert await pool.fetchval("select count(*) from alert_pending where customer_id = $1",
                               uuid.UUID(unmanaged)) == 0  # nothing kept of an erased customer


async def test_special_days_remind_once_and_never_an_erased_customer(settings, pool) -> None:
    router = AlertRouter(rules=settings.rules, store=event_store(settings), clock=FixedClock(NOW))
    store = event_store(settings)
    birthday, erased_one, unmanaged = new_customer_id(), new_customer_id(), new_customer_id()
    soon = (NOW + timedelta(days=5)).date().replace(year=1984)
    await apply(pool, router, [
        registered(birthday, datetime(2024, 1, 27, tzinfo=UTC), birth_date=soon), assigned(birthday, at(0)),
        registered(erased_one, datetime(2024, 1, 23, tzinfo=UTC), birth_date=soon), assigned(erased_one, at(0)),
        registered(unmanaged, datetime(2024, 1, 23, tzinfo=UTC), birth_date=soon),
        erased(erased_one, at(1)),
    ])
    assert await remind_special_days(pool, now=NOW - timedelta(days=30), rules=settings.rules, store=store) == 0
    assert await remind_special_days(pool, now=NOW, rules=settings.rules, store=store) == 2
    assert await remind_special_days(pool, now=NOW + timedelta(days=2), rules=settings.rules, store=store) == 0

    rows = await alerts_of(pool, birthday)
    assert [(r["kind"], r["due_on"], r["occasion"]) for r in rows] == [
        ("anniversary", date(2026, 1, 27), "anniversary:2026"), ("birthday", soon.replace(year=2026), "birthday:2026")]
    assert await alerts_of(pool, erased_one) == [] and await alerts_of(pool, unmanaged) == []
    stored = await pool.fetchrow("select birth_date, erased from alert_subjects where customer_id = $1",
                                 uuid.UUID(erased_one))
    assert stored is not None and stored["erased"] and stored["birth_date"] is None
    event = await pool.fetchval("select data::text from public.events where event_type = 'AccountManagerAlertRaised' "
                                "and data->>'kind' = 'birthday'")
    assert soon.isoformat()[5:] not in event  # the day itself never travels

    # erasing later forgets the day of reminders already raised
    await apply(pool, router, [erased(birthday, at(20))])
    assert {r["due_on"] for r in await alerts_of(pool, birthday)} == {None}


async def test_an_overdue_regular_purchase_alerts_once_per_cycle_and_never_after_an_erasure(settings, pool) -> None:
    router = AlertRouter(rules=settings.rules, store=event_store(settings), clock=FixedClock(NOW))
    store = event_store(settings)
    regular, erased_one = new_customer_id(), new_customer_id()
    orders = [order_placed(regular, at(day), sku="COFFEE-1", total="20.00", also=("MUG-1",) if day == 0 else ())
              for day in (0, 10, 20)]
    await apply(pool, router, [registered(regular, at(0)), assigned(regular, at(0)), *orders,
                               registered(erased_one, at(0)), assigned(erased_one, at(0)),
                               *(order_placed(erased_one, at(day), sku="COFFEE-1") for day in (0, 10, 20))])
    await apply(pool, router, [erased(erased_one, at(21))])

    assert await remind_replenishment(pool, now=at(34), rules=settings.rules, store=store) == 0  # 14 days: not yet
    assert await remind_replenishment(pool, now=at(36), rules=settings.rules, store=store) == 1
    assert await remind_replenishment(pool, now=at(40), rules=settings.rules, store=store) == 0  # the same cycle
    (alert,) = await alerts_of(pool, regular)
    assert (alert["kind"], [str(p) for p in alert["provenance"]]) == ("replenishment", [orders[-1].event_id])
    assert "COFFEE-1 3 times, about every 10 days" in alert["reason"]  # the mug was bought once: no rhythm
    assert await alerts_of(pool, erased_one) == []
    assert await pool.fetchval("select count(*) from alert_purchases where customer_id = $1",
                               uuid.UUID(erased_one)) == 0

    # they bought again: a new cycle, overdue once more later
    await apply(pool, router, [order_placed(regular, at(41), sku="COFFEE-1", total="20.00")])
    assert await remind_replenishment(pool, now=at(50), rules=settings.rules, store=store) == 0
    assert await remind_replenishment(pool, now=at(63), rules=settings.rules, store=store) == 1  # 4 in 41 days


async def test_the_inbox_pages_acknowledges_once_and_counts(settings, pool) -> None:
    raising = FixedClock(NOW)
    router = AlertRouter(rules=settings.rules, store=event_store(settings), clock=raising)
    cid = new_customer_id()
    await apply(pool, router, [registered(cid, at(0)), assigned(cid, at(0), manager="tester"),
                               complaint_filed(cid, str(uuid.uuid4()), at(1))])
    raising.advance(timedelta(minutes=1))
    await apply(pool, router, [sla_breached(cid, str(uuid.uuid4()), at(2))])
    raising.advance(timedelta(minutes=1))
    await apply(pool, router, [survey_answered(cid, 1, at(3))])
    clock = FixedClock(NOW + timedelta(hours=3, minutes=2))
    async with api(settings, clock=clock) as client:
        reader = token(settings, "analytics:read")
        first = (await client.get("/v1/alerts", params={"account_manager_id": "me", "limit": 2}, headers=reader)).json()
        assert [a["kind"] for a in first["items"]] == ["detractor", "sla_breach"]  # newest first
        rest = (await client.get("/v1/alerts", params={"account_manager_id": "me", "limit": 2,
                                                       "cursor": first["next_cursor"]}, headers=reader)).json()
        ids = [a["id"] for a in first["items"] + rest["items"]]
        assert len(rest["items"]) == 1 and rest["next_cursor"] is None and len(set(ids)) == 3
        assert rest["items"][0]["kind"] == "complaint" and rest["items"][0]["provenance"]
        other = await client.get("/v1/alerts", params={"account_manager_id": "someone-else"}, headers=reader)
        assert other.json()["items"] == []

        target = ids[0]
        refused = await client.post(f"/v1/alerts/{target}/acknowledge", headers=reader)
        assert refused.status_code == 403
        writer = token(settings, "customers:write")
        done = await client.post(f"/v1/alerts/{target}/acknowledge", headers=writer)
        assert done.status_code == 200 and done.json()["state"] == "acknowledged"
        assert done.json()["acknowledged_by"] == "tester"
        clock.advance(timedelta(hours=1))
        again = await client.post(f"/v1/alerts/{target}/acknowledge", headers=writer)
        assert again.json()["acknowledged_at"] == done.json()["acknowledged_at"]
        missing = await client.post(f"/v1/alerts/{uuid.uuid4()}/acknowledge", headers=writer)
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
        bad = await client.get("/v1/alerts", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=reader)
        assert bad.status_code == 422

        open_now = (await client.get("/v1/alerts", params={"account_manager_id": "tester"}, headers=reader)).json()
        assert target not in [a["id"] for a in open_now["items"]] and len(open_now["items"]) == 2
        acked = (await client.get("/v1/alerts", params={"state": "acknowledged", "customer_id": cid},
                                  headers=reader)).json()
        assert [a["id"] for a in acked["items"]] == [target]

        kpis = (await client.get("/v1/kpis/alerts", params={"from": "2026-01-01T00:00:00Z",
                                                            "to": "2026-02-01T00:00:00Z"}, headers=reader)).json()
        assert kpis["raised"] == 3 and kpis["acknowledged"] == 1
        assert kpis["median_hours_to_acknowledge"] == 3.0 and kpis["mean_hours_to_acknowledge"] == 3.0
        assert kpis["by_account_manager"] == [{"account_manager_id": "tester", "raised": 3, "acknowledged": 1,
                                               "median_hours_to_acknowledge": 3.0, "mean_hours_to_acknowledge": 3.0}]
    acks = await pool.fetch("select data from public.events where event_type = 'AccountManagerAlertAcknowledged'")
    assert [r["data"]["alert_id"] for r in acks] == [target]


async def test_alerts_flow_from_the_topics_to_analytics_events(make_database, platform_topics_created) -> None:
    settings = analytics_settings(platform_topics_created, await make_database("analytics"))
    keys = StaticKeys()
    cid = new_customer_id()
    soon = (NOW + timedelta(days=3)).date().replace(year=1990)
    complaint = complaint_filed(cid, str(uuid.uuid4()), at(2))
    await in_thread(publish, settings, [
        registered(cid, at(0), birth_date=soon), assigned(cid, at(1)), complaint,
        fact(analytics.SegmentEntered(customer_id=cid, rule="high_value.clv", decided_at=at(3),
                                      segment="high_value"), at(3)),
    ], keys)
    worker = alerts_worker(settings, keys=keys, clock=FixedClock(NOW))
    await worker.start()
    try:
        pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=2)
        try:
            async def kinds() -> list[str]:
                return [r["kind"] for r in await alerts_of(pool, cid)]

            await eventually(kinds, until=lambda k: k == ["complaint", "high_value"], timeout=60,
                             message="the complaint and high-value alerts")
            # the birth date came sealed on the topic and was opened with the customer's key
            assert await remind_special_days(pool, now=NOW, rules=settings.rules, store=event_store(settings)) == 1
        finally:
            await pool.close()
    finally:
        await worker.stop()
    await drain_outbox(settings.database_url, settings)
    records: list[Any] = await in_thread(lambda: read_topic(
        settings.kafka_bootstrap_servers, settings.topic("analytics.events"), expected=4, timeout=20))
    raised = sorted(r.value["kind"] for r in records if "AccountManagerAlertRaised" in r.headers.get("ce_type", ""))
    assert raised == ["birthday", "complaint", "high_value"], [r.headers for r in records]
    complaint_alert = next(r.value for r in records if r.value.get("kind") == "complaint")
    assert complaint_alert["provenance"] == [complaint.event_id] and complaint_alert["customer_id"] == cid
    assert records[0].key == cid.encode()
