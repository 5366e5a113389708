"""The read side through HTTP over PostgreSQL: every block of the 360, time travel, lists, bad input."""

from __future__ import annotations

import base64
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from services.analytics.config import AnalyticsSettings
from shared.consuming.consumer import apply_records
from shared.contracts.customer import CustomersMerged
from shared.store.db import create_pool
from shared.testing.clock import FixedClock
from tests.analytics.builders import (
    at,
    complaint_filed,
    fact,
    invoice_issued,
    message_suppressed,
    new_customer_id,
    offer_redeemed,
    offer_sent,
    order_placed,
    payment_received,
    registered,
    sla_breached,
    survey_answered,
    ticket_assigned,
    ticket_opened,
    ticket_resolved,
    ticket_transferred,
)
from tests.analytics.integration.support import analytics_settings, api, projector, records, token

CLOCK = FixedClock(at(10))


async def project(settings: AnalyticsSettings, pool: Any, facts: list) -> None:
    assert await apply_records(pool, projector(settings), records(facts)) == []


async def get(client: httpx.AsyncClient, settings: AnalyticsSettings, path: str, **params: Any) -> httpx.Response:
    return await client.get(path, params=params, headers=token(settings))


def forged(*values: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


async def test_every_block_of_the_360_for_whoever_answers_the_phone(settings, pool) -> None:
    cid = new_customer_id()
    order, invoice, complaint, question = (str(uuid.uuid4()) for _ in range(4))
    await project(settings, pool, [
        registered(cid, at(0), phone="+34 600 000 000"),
        order_placed(cid, at(1), order_id=order, total="250.00", margin="80.00", sku="TEA-1", category="tea",
                     promised=date(2026, 1, 10)),
        invoice_issued(cid, invoice, order, at(1, 1), amount="250.00"),
        payment_received(cid, invoice, order, at(4), amount="250.00", method="card"),
        ticket_opened(cid, complaint, at(2)),
        complaint_filed(cid, complaint, at(2)),
        ticket_assigned(cid, complaint, "agent-7", at(2, 1)),
        ticket_transferred(cid, complaint, "agent-9", at(2, 2)),
        sla_breached(cid, complaint, at(4, 1)),
        ticket_opened(cid, question, at(3), kind="question"),
        ticket_resolved(cid, question, at(3, 3), seconds=3 * 3600),
        survey_answered(cid, 4, at(5), kind="csat"),
        survey_answered(cid, 5, at(5, 1), kind="csat"),
        offer_sent(cid, at(6), campaign_id="cmp-7"),
        offer_redeemed(cid, at(7), campaign_id="cmp-7"),
        message_suppressed(cid, at(8)),
    ])
    async with api(settings, CLOCK) as client:
        view = (await get(client, settings, f"/v1/customers/{cid}/360")).json()

    assert view["customer_id"] == cid and view["status"] == "active"
    profile = view["profile"]
    assert (profile["name"], profile["email"], profile["phone"]) == ("Ada Lovelace", "ada@example.com",
                                                                       "+34 600 000 000")
    assert profile["consents"]["email"] is True and profile["interests"] == ["tea"]
    assert profile["customer_since"] == "2026-01-01T09:00:00.000000Z" and profile["merged_ids"] == []

    orders = view["orders"]
    assert orders["last_order_at"] == "2026-01-02T09:00:00.000000Z"
    assert orders["last_order"]["items"] == [{"sku": "TEA-1", "name": "product TEA-1", "category": "tea",
                                              "quantity": 1}]
    assert [(p["order_id"], p["status"], p["promised_delivery_date"]) for p in orders["pending"]] == [
        (order, "placed", "2026-01-10")
    ]
    assert (orders["average_order_value"], orders["total_margin"], orders["returns"]) == ("250.00", "80.00", 0)

    payments = view["payments"]
    assert (payments["invoiced"], payments["paid"], payments["outstanding"]) == ("250.00", "250.00", "0.00")
    assert payments["overdue_count"] == 0
    assert payments["average_days_to_pay"] == "2.0"  # invoiced day 1 10:00, paid day 4 09:00
    assert payments["preferred_method"] == "card"

    service = view["service"]
    assert (service["open_tickets"], service["complaints_total"], service["complaints_90d"]) == (1, 1, 1)
    assert service["last_complaint_at"] == "2026-01-03T09:00:00.000000Z"
    assert (service["sla_breaches"], service["transfers"], service["average_resolution_hours"]) == (1, 1, "3.0")
    [still_open] = service["open"]
    assert (still_open["ticket_id"], still_open["subject"], still_open["owner"]) == (complaint, "Late delivery",
                                                                                     "agent-9")
    assert still_open["due"].startswith("2026-01-05T09:00:00")

    assert view["feedback"] == {"last_nps": None, "last_nps_at": None, "nps_category": None,
                                "csat_average": "4.50", "survey_count": 2}
    marketing = view["marketing"]
    assert (marketing["offers_received"], marketing["offers_redeemed"], marketing["suppressed_recently"]) == (
        1, 1, True)
    assert marketing["last_offer"]["campaign_id"] == "cmp-7"

    assert view["value"]["clv_historic"] == "-20.00"  # margin 80 - acquisition 100
    assert view["value"]["value_tier"] == "bronze" and view["value"]["provenance"]
    assert view["risk"]["churn_band"] in ("low", "medium", "high") and 0 <= float(view["risk"]["churn_risk"]) <= 1
    assert view["lifecycle_stage"]["stage"] == "awareness"
    assert view["lifecycle_stage"]["rule"] == "awareness.first_purchase" and view["lifecycle_stage"]["provenance"]
    assert {s["segment"]: s["since"] for s in view["segments"]} == {"loss_making": "2026-01-02T09:00:00.000000Z"}
    assert view["freshness"]["last_event_at"] == "2026-01-09T09:00:00.000000Z"


async def test_time_travel_to_now_is_the_live_view(settings, pool) -> None:
    cid, other = new_customer_id(), new_customer_id()
    ticket = str(uuid.uuid4())
    await project(settings, pool, [
        registered(cid, at(0)),
        order_placed(cid, at(1), sku="A", also=("B",)),
        order_placed(other, at(1), sku="A", also=("C",)),  # a recommendation for cid: C
        ticket_opened(cid, ticket, at(2)),
        complaint_filed(cid, ticket, at(2)),
        survey_answered(cid, 2, at(3)),
    ])
    async with api(settings, CLOCK) as client:
        live = (await get(client, settings, f"/v1/customers/{cid}/360")).json()
        past = (await get(client, settings, f"/v1/customers/{cid}/360", as_of="2026-01-11T09:00:00Z")).json()
        future = (await get(client, settings, f"/v1/customers/{cid}/360", as_of="2030-01-01T00:00:00Z")).json()
    assert past.pop("as_of") == "2026-01-11T09:00:00.000000Z"
    assert future.pop("as_of") == "2030-01-01T00:00:00.000000Z"
    assert live.pop("as_of") is None
    assert [r["sku"] for r in live["recommendations"]] == ["C"]
    assert past == live
    assert future == live  # what is known now, not a forecast of 2030's inactivity


async def test_time_travel_knows_who_was_merged_into_whom_at_the_time(settings, pool) -> None:
    survivor, duplicate, later_survivor = new_customer_id(), new_customer_id(), new_customer_id()
    await project(settings, pool, [
        registered(survivor, at(0), name="Survivor"),
        order_placed(survivor, at(1), total="300.00", margin="90.00"),
        registered(duplicate, at(0, 1), name="Duplicate"),
        order_placed(duplicate, at(1, 2), total="70.00", margin="20.00"),
        registered(later_survivor, at(0, 2), name="Later"),
    ])
    await project(settings, pool, [
        fact(CustomersMerged(customer_id=survivor, duplicate_id=duplicate, merged_at=at(3)), at(3)),
        order_placed(duplicate, at(4), total="40.00", margin="10.00"),  # published for the old id
    ])
    await project(settings, pool, [
        fact(CustomersMerged(customer_id=later_survivor, duplicate_id=survivor, merged_at=at(6)), at(6)),
    ])
    async with api(settings, CLOCK) as client:
        async def view(customer: str, as_of: str | None = None) -> dict[str, Any]:
            params = {"as_of": as_of} if as_of else {}
            response = await get(client, settings, f"/v1/customers/{customer}/360", **params)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            body.pop("as_of")
            return body

        survivor_before = await view(survivor, "2026-01-03T00:00:00Z")
        duplicate_before = await view(duplicate, "2026-01-03T00:00:00Z")
        survivor_between = await view(survivor, "2026-01-06T00:00:00Z")
        duplicate_after = await view(duplicate, "2026-01-06T00:00:00Z")
        survivor_after = await view(survivor, "2026-01-08T00:00:00Z")
        chain_live = await view(later_survivor)
        chain_then = await view(later_survivor, "2026-01-11T09:00:00Z")
        timeline = (await get(client, settings, f"/v1/customers/{later_survivor}/timeline")).json()

    assert (survivor_before["orders"]["count"], survivor_before["profile"]["merged_ids"]) == (1, [])
    assert (duplicate_before["status"], duplicate_before["orders"]["count"]) == ("active", 1)
    assert duplicate_before["profile"]["name"] == "Duplicate"
    assert (survivor_between["orders"]["count"], survivor_between["profile"]["merged_ids"]) == (3, [duplicate])
    assert (duplicate_after["status"], duplicate_after["merged_into"]) == ("merged", survivor)
    assert (survivor_after["status"], survivor_after["merged_into"]) == ("merged", later_survivor)
    # a chain of merges leaves every event with the last survivor, live and in the past alike
    assert chain_live["orders"]["count"] == 3 and chain_live["profile"]["name"] == "Later"
    assert chain_then == chain_live
    assert {item["customer_id"] for item in timeline["items"]} == {survivor, duplicate, later_survivor}


async def test_lists_filter_by_stage_band_and_name_and_sort_every_way(settings, pool) -> None:
    ada, bob, bobby = new_customer_id(), new_customer_id(), new_customer_id()
    complaints = [str(uuid.uuid4()) for _ in range(3)]
    await project(settings, pool, [
        registered(ada, at(0)),
        order_placed(ada, at(1), total="3000.00", margin="1000.00"),
        registered(bob, at(0), name="Bob_ Smith"),
        order_placed(bob, at(1), total="100.00", margin="60.00"),
        *(complaint_filed(bob, ticket, at(2, n)) for n, ticket in enumerate(complaints)),
        survey_answered(bob, 0, at(3)),
        registered(bobby, at(0), name="Bobby Tables", acquisition_cost=None),
    ])
    async with api(settings, CLOCK) as client:
        async def ids(**params: Any) -> list[str]:
            response = await get(client, settings, "/v1/customers", **params)
            assert response.status_code == 200, response.text
            return [item["customer_id"] for item in response.json()["items"]]

        assert await ids(lifecycle_stage="discovery") == [bobby]
        assert await ids(churn_band="medium") == [bob]
        assert await ids(segment="serial_complainer") == [bob]
        assert sorted(await ids(q="bob")) == sorted([bob, bobby])
        assert await ids(q="BOB_") == [bob]  # an underscore in a name is a letter, not a wildcard
        assert await ids(q="%") == []
        assert await ids(q=ada.upper()) == [ada]
        assert await ids(sort="-churn_risk", limit=1) == [bob]
        assert await ids() == [ada, bobby, bob]  # CLV 900, 0, -40
        first = (await get(client, settings, "/v1/customers", sort="clv", limit=2)).json()
        rest = (await get(client, settings, "/v1/customers", sort="clv", limit=2, cursor=first["next_cursor"])).json()
        assert [c["customer_id"] for c in first["items"] + rest["items"]] == [bob, bobby, ada]
        assert rest["next_cursor"] is None
        newest = await ids(sort="-last_event_at")
        assert newest[0] == bob  # the detractor answer on day 3 is the latest event


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/customers/{cid}/timeline", {"cursor": forged("2026-01-01T00:00:00Z", "not-an-id")}),
        ("/v1/customers/{cid}/timeline", {"cursor": forged("2026-01-01T00:00:00Z", 7)}),
        ("/v1/customers", {"cursor": forged("1", "not-an-id")}),
        ("/v1/customers", {"cursor": forged("1e999999999", "{cid}")}),
        ("/v1/customers", {"cursor": forged("NaN", "{cid}")}),
        ("/v1/customers", {"sort": "-last_event_at", "cursor": forged("yesterday", "{cid}")}),
        ("/v1/customers/{cid}/360", {"as_of": "0001-01-01T00:00:00+01:00"}),
        ("/v1/customers/{cid}/360", {"as_of": "9999-12-31T23:59:59-01:00"}),
        ("/v1/kpis/nps", {"from": "0001-01-01T00:00:00+01:00", "to": "2026-01-01T00:00:00Z"}),
        ("/v1/kpis/churn", {"from": "2026-01-01T00:00:00Z"}),
        ("/v1/customers", {"lifecycle_stage": "retired"}),
        ("/v1/customers", {"churn_band": "extreme"}),
        ("/v1/customers", {"sort": "name"}),
        ("/v1/customers", {"limit": 0}),
    ],
)
async def test_bad_input_is_a_problem_of_the_client(settings, pool, path: str, params: dict[str, str]) -> None:
    cid = new_customer_id()
    await project(settings, pool, [registered(cid, at(0))])
    async with api(settings, CLOCK) as client:
        response = await get(client, settings, path.format(cid=cid),
                             **{k: v.replace("{cid}", cid) if isinstance(v, str) else v for k, v in params.items()})
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_rules_file_changes_what_the_service_computes(make_database, platform_settings, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("high_value_min_clv: 100\ntier_silver_min: 50\n")
    monkeypatch.setenv("ANALYTICS_RULES_FILE", str(rules))
    settings = analytics_settings(platform_settings, await make_database("analytics"))
    assert settings.rules.high_value_min_clv == 100
    cid = new_customer_id()
    pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=2)
    try:
        await project(settings, pool, [registered(cid, at(0)), order_placed(cid, at(1), margin="250.00")])
    finally:
        await pool.close()
    async with api(settings, CLOCK) as client:
        view = (await get(client, settings, f"/v1/customers/{cid}/360")).json()
        listed = (await get(client, settings, "/v1/customers", segment="high_value")).json()
    assert view["value"]["clv_historic"] == "150.00"  # below the default 5000, above the file's 100
    assert [s["segment"] for s in view["segments"]] == ["high_value"]
    assert view["value"]["value_tier"] == "silver"
    assert [c["customer_id"] for c in listed["items"]] == [cid]
