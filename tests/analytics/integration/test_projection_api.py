"""The projector through the consumer kit into PostgreSQL, read back through the HTTP API."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg

from services.analytics.bootstrap import event_store
from shared.consuming.consumer import apply_records
from shared.contracts.customer import CustomersMerged
from shared.testing.clock import FixedClock
from tests.analytics.builders import (
    at,
    complaint_filed,
    erased,
    fact,
    new_customer_id,
    order_placed,
    order_status,
    registered,
    survey_answered,
    ticket_opened,
)
from tests.analytics.integration.support import api, projector, records, token

CLOCK = FixedClock(at(10))


async def signals(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch("select event_type from public.events order by position")
    return [r["event_type"] for r in rows]


def a_history(cid: str) -> list:
    order, ticket = str(uuid.uuid4()), str(uuid.uuid4())
    return [
        survey_answered(cid, 3, at(2)),  # arrives first, though it happened after the registration
        registered(cid, at(0)),
        order_placed(cid, at(1), order_id=order, total="250.00", margin="80.00", sku="TEA-1", category="tea"),
        order_status("OrderShipped", cid, order, at(1, 5)),
        ticket_opened(cid, ticket, at(3)),
        complaint_filed(cid, ticket, at(3)),
    ]


async def test_the_360_shows_every_domain(settings, pool) -> None:
    cid = new_customer_id()
    dead = await apply_records(pool, projector(settings), records(a_history(cid)))
    assert dead == []
    async with api(settings, CLOCK) as client:
        response = await client.get(f"/v1/customers/{cid}/360", headers=token(settings))
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["status"] == "active"
    assert view["profile"]["relationship_type"] == "long_term"
    assert view["orders"]["count"] == 1
    assert view["orders"]["total_spent"] == "250.00"
    assert view["orders"]["pending"][0]["status"] == "shipped"
    assert view["orders"]["top_categories"] == [{"category": "tea", "quantity": 1}]
    assert view["service"]["open_tickets"] == 1
    assert view["service"]["complaints_total"] == 1
    assert view["feedback"]["nps_category"] == "detractor"
    assert view["lifecycle_stage"]["stage"] == "awareness"
    assert view["value"]["clv_historic"] == "-20.00"
    assert "loss_making" in {s["segment"] for s in view["segments"]}
    assert view["freshness"]["last_event_at"] == "2026-01-04T09:00:00.000000Z"


async def test_redelivery_changes_nothing(settings, pool) -> None:
    cid = new_customer_id()
    batch = records(a_history(cid))
    await apply_records(pool, projector(settings), batch)
    first = await pool.fetchval("select state from customer_views where customer_id = $1", cid)
    emitted = await signals(pool)
    await apply_records(pool, projector(settings), batch + batch)  # redelivered, twice in one batch too
    assert await pool.fetchval("select state from customer_views where customer_id = $1", cid) == first
    assert await signals(pool) == emitted
    assert await pool.fetchval("select count(*) from customer_events where customer_id = $1", cid) == 6


async def test_each_trait_change_is_signalled_once(settings, pool) -> None:
    cid = new_customer_id()
    await apply_records(pool, projector(settings), records(a_history(cid)[:3]))
    await apply_records(pool, projector(settings), records(a_history(cid)[3:]))
    rows = await pool.fetch("select event_type, data from public.events where subject = $1 order by position", cid)
    entered = [(r["event_type"], r["data"].get("segment") or r["data"].get("to_stage")) for r in rows]
    assert entered.count(("SegmentEntered", "loss_making")) == 1
    assert ("LifecycleStageChanged", "awareness") in entered
    assert all(r["data"]["customer_id"] == cid for r in rows)
    assert await pool.fetchval("select count(*) from public.outbox") == len(rows)


async def test_time_travel_answers_the_past_with_the_same_fold(settings, pool) -> None:
    cid = new_customer_id()
    await apply_records(pool, projector(settings), records(a_history(cid)))
    async with api(settings, CLOCK) as client:
        past = await client.get(
            f"/v1/customers/{cid}/360", params={"as_of": "2026-01-02T12:00:00Z"}, headers=token(settings)
        )
        before_anything = await client.get(
            f"/v1/customers/{cid}/360", params={"as_of": "2025-12-01T00:00:00Z"}, headers=token(settings)
        )
        naive = await client.get(
            f"/v1/customers/{cid}/360", params={"as_of": "2026-01-02T12:00:00"}, headers=token(settings)
        )
    assert past.status_code == 200, past.text
    assert past.json()["orders"]["count"] == 1
    assert past.json()["feedback"]["last_nps"] is None
    assert past.json()["service"]["complaints_total"] == 0
    assert past.json()["as_of"] == "2026-01-02T12:00:00.000000Z"
    assert before_anything.status_code == 404
    assert naive.status_code == 422


async def test_timeline_pages_newest_first_with_type_filter(settings, pool) -> None:
    cid = new_customer_id()
    await apply_records(pool, projector(settings), records(a_history(cid)))
    async with api(settings, CLOCK) as client:
        first = (await client.get(f"/v1/customers/{cid}/timeline", params={"limit": 4}, headers=token(settings))).json()
        second = (
            await client.get(
                f"/v1/customers/{cid}/timeline",
                params={"limit": 4, "cursor": first["next_cursor"]},
                headers=token(settings),
            )
        ).json()
        only = (
            await client.get(
                f"/v1/customers/{cid}/timeline",
                params={"type": ["OrderPlaced", "ComplaintFiled"]},
                headers=token(settings),
            )
        ).json()
        bad = await client.get(f"/v1/customers/{cid}/timeline", params={"cursor": "garbage"}, headers=token(settings))
    times = [item["time"] for item in first["items"] + second["items"]]
    assert len(times) == 6 and times == sorted(times, reverse=True)
    assert second["next_cursor"] is None
    assert [item["type"] for item in only["items"]] == ["ComplaintFiled", "OrderPlaced"]
    assert bad.status_code == 422


async def test_lists_filter_and_sort_by_clv(settings, pool) -> None:
    rich, poor = new_customer_id(), new_customer_id()
    facts = [
        registered(rich, at(0)),
        order_placed(rich, at(1), total="9000.00", margin="6000.00"),
        registered(poor, at(0)),
        order_placed(poor, at(1), total="10.00", margin="1.00"),
    ]
    await apply_records(pool, projector(settings), records(facts))
    async with api(settings, CLOCK) as client:
        high = (await client.get("/v1/customers", params={"segment": "high_value"}, headers=token(settings))).json()
        everyone = (await client.get("/v1/customers", params={"limit": 1}, headers=token(settings))).json()
        rest = (
            await client.get(
                "/v1/customers", params={"limit": 1, "cursor": everyone["next_cursor"]}, headers=token(settings)
            )
        ).json()
        wrong = await client.get("/v1/customers", params={"segment": "vip"}, headers=token(settings))
    assert [c["customer_id"] for c in high["items"]] == [rich]
    assert [c["customer_id"] for c in everyone["items"] + rest["items"]] == [rich, poor]
    assert everyone["items"][0]["clv"] == "5900.00"
    assert wrong.status_code == 422


async def test_self_service_reads_only_its_own_360(settings, pool) -> None:
    mine, other = new_customer_id(), new_customer_id()
    await apply_records(pool, projector(settings), records([registered(mine, at(0)), registered(other, at(0))]))
    own = token(settings, "self", customer_id=mine)
    async with api(settings, CLOCK) as client:
        assert (await client.get(f"/v1/customers/{mine}/360", headers=own)).status_code == 200
        assert (await client.get(f"/v1/customers/{other}/360", headers=own)).status_code == 403
        assert (await client.get("/v1/customers", headers=own)).status_code == 403
        assert (await client.get(f"/v1/customers/{mine}/360")).status_code == 401
        assert (
            await client.get(f"/v1/customers/{mine}/360", headers=token(settings, "tickets:read"))
        ).status_code == 403


async def test_merge_folds_the_duplicate_into_the_survivor(settings, pool) -> None:
    survivor, duplicate = new_customer_id(), new_customer_id()
    facts = [
        registered(survivor, at(0)),
        registered(duplicate, at(0, 1)),
        order_placed(duplicate, at(1), total="100.00", margin="50.00"),
    ]
    await apply_records(pool, projector(settings), records(facts))
    merge = fact(CustomersMerged(customer_id=survivor, duplicate_id=duplicate, merged_at=at(2)), at(2))
    late = order_placed(duplicate, at(3), total="40.00", margin="10.00")
    await apply_records(pool, projector(settings), records([merge, late]))
    async with api(settings, CLOCK) as client:
        view = (await client.get(f"/v1/customers/{survivor}/360", headers=token(settings))).json()
        gone = (await client.get(f"/v1/customers/{duplicate}/360", headers=token(settings))).json()
    assert view["orders"]["count"] == 2
    assert view["profile"]["merged_ids"] == [duplicate]
    assert gone["status"] == "merged" and gone["merged_into"] == survivor
    assert gone["orders"]["count"] == 0


async def test_erasure_removes_personal_data_everywhere_but_keeps_kpis(settings, pool) -> None:
    cid = new_customer_id()
    facts = [registered(cid, at(0)), order_placed(cid, at(1)), survey_answered(cid, 10, at(2))]
    await apply_records(pool, projector(settings), records([*facts, erased(cid, at(3))]))
    async with api(settings, CLOCK) as client:
        view = (await client.get(f"/v1/customers/{cid}/360", headers=token(settings))).json()
        timeline = (await client.get(f"/v1/customers/{cid}/timeline", headers=token(settings))).json()
        past = (
            await client.get(
                f"/v1/customers/{cid}/360", params={"as_of": "2026-01-01T12:00:00Z"}, headers=token(settings)
            )
        ).json()
        nps = (
            await client.get(
                "/v1/kpis/nps",
                params={"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
                headers=token(settings),
            )
        ).json()
    assert view["status"] == "erased"
    assert view["profile"]["name"] is None and view["profile"]["email"] is None
    registration = next(i for i in timeline["items"] if i["type"] == "CustomerRegistered")
    assert registration["data"]["name"] is None and registration["data"]["email"] is None
    assert past["profile"]["name"] is None
    stored = await pool.fetchval("select state::text from customer_views where customer_id = $1", cid)
    assert "Ada" not in stored and "ada@example.com" not in stored
    assert view["orders"]["total_spent"] == "1000.00"
    assert nps["promoters"] == 1


async def test_kpis_answer_from_read_models(settings, pool) -> None:
    a, b, c = new_customer_id(), new_customer_id(), new_customer_id()
    facts = [
        registered(a, at(0)),
        registered(b, at(0)),
        registered(c, at(0)),
        survey_answered(a, 10, at(1)),
        survey_answered(b, 9, at(1)),
        survey_answered(c, 2, at(40)),
        survey_answered(a, 5, at(2), kind="csat"),
    ]
    await apply_records(pool, projector(settings), records(facts))
    window = {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
    async with api(settings, CLOCK) as client:
        nps = (await client.get("/v1/kpis/nps", params=window, headers=token(settings))).json()
        reversed_range = await client.get(
            "/v1/kpis/nps", params={"from": window["to"], "to": window["from"]}, headers=token(settings)
        )
        for kpi in ("churn", "clv", "service", "campaigns"):
            response = await client.get(f"/v1/kpis/{kpi}", params=window, headers=token(settings))
            assert response.status_code == 200, (kpi, response.text)
    assert (nps["promoters"], nps["passives"], nps["detractors"], nps["responses"]) == (2, 0, 1, 3)
    assert nps["nps"] == "33.3"
    assert [(p["period"][:7], p["nps"]) for p in nps["by_period"]] == [("2026-01", "100.0"), ("2026-02", "-100.0")]
    assert reversed_range.status_code == 422


async def test_the_sweep_applies_time_based_rules_with_a_controlled_clock(settings, pool) -> None:
    from services.analytics.application.sweep import sweep

    cid = new_customer_id()
    await apply_records(pool, projector(settings), records([registered(cid, at(0)), order_placed(cid, at(1))]))
    assert await sweep(pool, now=at(30), rules=settings.rules, store=event_store(settings)) == 0
    changed = await sweep(pool, now=at(1) + timedelta(days=400), rules=settings.rules, store=event_store(settings))
    assert changed == 1
    stage = await pool.fetchval("select lifecycle_stage from customer_views where customer_id = $1", cid)
    assert stage == "dissolution"
    rows = await pool.fetch(
        "select data from public.events where event_type = 'LifecycleStageChanged' and subject = $1 order by position",
        cid,
    )
    assert rows[-1]["data"]["to_stage"] == "dissolution"
    assert rows[-1]["data"]["rule"] == "dissolution.inactive"
    again = await sweep(pool, now=at(1) + timedelta(days=401), rules=settings.rules, store=event_store(settings))
    assert again == 0
