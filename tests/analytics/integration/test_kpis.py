"""Each KPI endpoint with its from/to, computed from the KPI read models (numbers worked out by hand)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from services.analytics.application.sweep import sweep
from services.analytics.bootstrap import event_store
from services.analytics.config import AnalyticsSettings
from services.analytics.consumers.projector import AnalyticsProjector
from shared.consuming.consumer import apply_records
from shared.testing.clock import FixedClock
from tests.analytics.builders import (
    at,
    campaign_created,
    complaint_filed,
    held_out,
    new_customer_id,
    offer_redeemed,
    offer_sent,
    order_placed,
    registered,
    sla_breached,
    survey_answered,
    ticket_opened,
    ticket_resolved,
    ticket_transferred,
)
from tests.analytics.integration.support import api, records, token


async def project(settings: AnalyticsSettings, pool: Any, facts: list) -> None:
    projector = AnalyticsProjector(rules=settings.rules, store=event_store(settings))
    assert await apply_records(pool, projector, records(facts)) == []


async def kpi(settings: AnalyticsSettings, name: str, start: str, end: str, **params: Any) -> dict[str, Any]:
    async with api(settings, FixedClock(at(10))) as client:
        response = await client.get(f"/v1/kpis/{name}", params={"from": start, "to": end, **params},
                                    headers=token(settings))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_nps_by_segment_counts_each_answer_in_the_customers_current_segments(settings, pool) -> None:
    rich, poor = new_customer_id(), new_customer_id()
    complaints = [str(uuid.uuid4()) for _ in range(3)]
    await project(settings, pool, [
        registered(rich, at(0)),
        order_placed(rich, at(1), total="9000.00", margin="6000.00"),
        survey_answered(rich, 10, at(2)),
        registered(poor, at(0)),
        *(complaint_filed(poor, ticket, at(1, n)) for n, ticket in enumerate(complaints)),
        survey_answered(poor, 3, at(2)),
        survey_answered(poor, 8, at(40)),  # outside the range below
    ])
    nps = await kpi(settings, "nps", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", period="week")
    assert (nps["nps"], nps["responses"]) == ("0.0", 2)
    assert [(p["period"], p["responses"]) for p in nps["by_period"]] == [("2025-12-29T00:00:00.000000Z", 2)]
    assert {s["segment"]: (s["nps"], s["responses"]) for s in nps["by_segment"]} == {
        "high_value": ("100.0", 1),
        "serial_complainer": ("-100.0", 1),
    }


async def test_churn_is_the_share_of_customers_active_at_a_months_start_who_dissolved_in_it(settings, pool) -> None:
    quiet, browsing, late = new_customer_id(), new_customer_id(), new_customer_id()
    await project(settings, pool, [
        registered(quiet, at(0)),
        order_placed(quiet, at(1)),  # dissolves 365 days after this order: 2027-01-02
        registered(browsing, at(0)),  # never ordered: never dissolves
        registered(late, at(400)),  # a customer only since February 2027
    ])
    # two views change: the quiet buyer dissolves, the browser's inactivity raises their churn band
    assert await sweep(pool, now=at(1) + timedelta(days=380), rules=settings.rules, store=event_store(settings)) == 2
    window = ("2026-12-01T00:00:00Z", "2027-04-01T00:00:00Z")
    expected = [
        ("2026-12", 2, 0, "0.0"),
        ("2027-01", 2, 1, "50.0"),
        ("2027-02", 1, 0, "0.0"),  # the quiet buyer was gone at February's start; the late one not yet here
        ("2027-03", 3, 0, "0.0"),  # ... and came back (below): active again, with the late one
    ]
    await project(settings, pool, [order_placed(quiet, at(1) + timedelta(days=400))])  # 2027-02-06
    churn = await kpi(settings, "churn", *window)
    months = [(m["month"][:7], m["active_at_start"], m["churned"], m["churn_rate"]) for m in churn["by_month"]]
    assert months == expected
    assert churn["average_monthly_churn_rate"] == "12.5"  # 1 of 8 customer-months
    # the same without the sweep ever noticing (a rebuild, or a sweep that was down): the same months
    other = new_customer_id()
    await project(settings, pool, [
        registered(other, at(0)),
        order_placed(other, at(1)),
        order_placed(other, at(1) + timedelta(days=400)),
    ])
    again = await kpi(settings, "churn", *window)
    assert [(m["month"][:7], m["churned"]) for m in again["by_month"]] == [
        ("2026-12", 0), ("2027-01", 2), ("2027-02", 0), ("2027-03", 0)
    ]


async def test_clv_distribution_and_by_acquisition_channel_of_customers_acquired_in_range(settings, pool) -> None:
    web, store, browsing, earlier = (new_customer_id() for _ in range(4))
    await project(settings, pool, [
        registered(web, at(1), acquisition_channel="web"),
        order_placed(web, at(2), total="3000.00", margin="1000.00"),  # 1000 - 100 = 900
        registered(store, at(1), acquisition_channel="store", acquisition_cost=None),
        order_placed(store, at(2), total="500.00", margin="200.00"),  # 200
        registered(browsing, at(1), acquisition_channel="store", acquisition_cost="50.00"),  # -50
        registered(earlier, at(-40), acquisition_channel="web"),  # acquired before the range
    ])
    clv = await kpi(settings, "clv", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")
    assert (clv["customers"], clv["total"], clv["average"]) == (3, "1050.00", "350.00")
    assert (clv["percentiles"]["p10"], clv["percentiles"]["p50"], clv["percentiles"]["p90"]) == (
        "0.00", "200.00", "760.00")
    assert clv["by_tier"] == {"bronze": 2, "silver": 1}
    assert clv["by_acquisition_channel"] == [
        {"channel": "store", "customers": 2, "average": "75.00", "total": "150.00"},
        {"channel": "web", "customers": 1, "average": "900.00", "total": "900.00"},
    ]


async def test_service_kpis_of_tickets_opened_in_range(settings, pool) -> None:
    cid = new_customer_id()
    quick, bounced, waiting, old = (str(uuid.uuid4()) for _ in range(4))
    await project(settings, pool, [
        registered(cid, at(0)),
        ticket_opened(cid, quick, at(1)),
        ticket_resolved(cid, quick, at(1, 2), seconds=7200, first_response_seconds=3600, root_cause="carrier"),
        ticket_opened(cid, bounced, at(2)),
        ticket_transferred(cid, bounced, "agent-2", at(2, 1)),
        sla_breached(cid, bounced, at(4)),
        ticket_resolved(cid, bounced, at(5), seconds=36000, first_response_seconds=7200, root_cause="stock",
                        transfers=1, first_contact=False, sla_breached=True),
        ticket_opened(cid, waiting, at(3)),
        ticket_opened(cid, old, at(-10)),  # opened before the range
        sla_breached(cid, old, at(1)),
    ])
    service = await kpi(settings, "service", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")
    assert (service["tickets"], service["resolved"]) == (3, 2)
    assert (service["first_response_hours_avg"], service["first_response_hours_p50"]) == ("1.50", "1.50")
    assert (service["resolution_hours_avg"], service["resolution_hours_p50"]) == ("6.00", "6.00")
    assert (service["sla_breach_rate"], service["transfer_rate"]) == ("33.3", "33.3")
    assert service["first_contact_resolution_rate"] == "50.0"
    assert service["top_root_causes"] == [
        {"root_cause": "carrier", "tickets": 1},
        {"root_cause": "stock", "tickets": 1},
    ]


async def test_campaign_conversions_against_the_control_group_uplift_and_roi(settings, pool) -> None:
    treated = [new_customer_id() for _ in range(4)]
    control = [new_customer_id() for _ in range(2)]
    await project(settings, pool, [
        campaign_created("cmp-9", at(0), name="Winter tea"),
        *(offer_sent(c, at(1), campaign_id="cmp-9") for c in treated),  # 0.10 each
        offer_redeemed(treated[0], at(3), campaign_id="cmp-9", total="100.00", margin="40.00"),
        *(held_out(c, at(1), campaign_id="cmp-9") for c in control),
        order_placed(control[0], at(5)),  # a held-out customer who bought anyway, within 30 days
        order_placed(control[1], at(45)),  # too late to count
        offer_sent(new_customer_id(), at(90), campaign_id="cmp-later"),  # sent after the range
        *(offer_sent(new_customer_id(), at(40), campaign_id="cmp-9") for _ in range(3)),  # in February
        offer_redeemed(treated[1], at(41), campaign_id="cmp-9", total="50.00", margin="10.00"),
    ])
    campaigns = await kpi(settings, "campaigns", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")
    february = await kpi(settings, "campaigns", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")
    assert [(i["campaign_id"], i["sends"], i["conversions"], i["control_group"], i["margin"], i["cost"])
            for i in february["items"]] == [("cmp-9", 3, 1, 0, "10.00", "0.30")]
    [item] = campaigns["items"]
    assert (item["campaign_id"], item["name"], item["objective"]) == ("cmp-9", "Winter tea", "cross_sell")
    assert (item["sends"], item["conversions"], item["conversion_rate"]) == (4, 1, "25.0")
    assert (item["control_group"], item["control_conversions"], item["control_conversion_rate"]) == (2, 1, "50.0")
    assert item["uplift_points"] == "-25.0"
    assert (item["revenue"], item["margin"], item["cost"], item["roi"]) == ("100.00", "40.00", "0.40", "99.00")
