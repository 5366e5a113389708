"""``GET /v1/campaigns/{id}/performance`` after real sends, hold-outs, conversions and redemptions."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal

import httpx

from services.campaigns.bootstrap import build_app
from services.campaigns.domain.decision import in_control_group
from shared.settings import PlatformSettings
from shared.web import mint_token
from tests.campaigns.integration.kafka_support import NOON, Stage, a_registration, an_order, envelope


async def test_performance_counts_sends_holdouts_conversions_and_redemptions(
    make_database: Callable[..., Awaitable[str]], platform_settings: PlatformSettings
) -> None:
    stage = await Stage.open(platform_settings, await make_database("campaigns"))
    try:
        campaign_id = await stage.campaign(control_group_pct=50, caps={"per_customer": 1},
                                           budget={"total": "100.00", "cost_per_send": {"email": "0.40"}})
        treated: list[str] = []
        control: list[str] = []
        while len(treated) < 6 or len(control) < 4:
            customer = str(uuid.uuid4())
            group = control if in_control_group(campaign_id, customer, 50) else treated
            if len(group) < (4 if group is control else 6):
                group.append(customer)
        everyone = treated + control
        await stage.deliver(*[envelope(a_registration(c, consents={"email": True})) for c in everyone])
        await stage.deliver(*[envelope(an_order(c)) for c in everyone])  # the trigger: sends and hold-outs
        codes = dict(await stage.pool.fetch("select customer_id, code from offers"))
        day = NOON + timedelta(days=1)
        # Three treated customers redeem (with margins), one more orders without the code: 4 of 6 convert.
        follow_ups = [an_order(c, "400.00", offer_code=codes[c], margin=Decimal("100.00"), placed_at=day)
                      for c in treated[:3]]
        follow_ups.append(an_order(treated[3], "250.00", placed_at=day))
        # Two held-out customers order within the 30-day window, one only after it: 2 of 4 convert.
        follow_ups += [an_order(c, "200.00", placed_at=day) for c in control[:2]]
        follow_ups.append(an_order(control[2], "200.00", placed_at=NOON + timedelta(days=45)))
        await stage.deliver(*[envelope(o) for o in follow_ups])

        app = build_app(stage.settings)
        token = mint_token(stage.settings, "tester", ["campaigns:read"])
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            response = await client.get(f"/v1/campaigns/{campaign_id}/performance")
            missing = await client.get(f"/v1/campaigns/{uuid.uuid4()}/performance")
            malformed = await client.get("/v1/campaigns/not-a-uuid/performance")
    finally:
        await stage.close()

    assert response.status_code == 200, response.text
    assert (missing.status_code, malformed.status_code) == (404, 404)
    cost = Decimal("0.40") * 6
    assert response.json() == {
        "campaign_id": campaign_id,
        "sent": 6,
        "suppressed": {},
        "held_out": 4,
        "redeemed": 3,
        "conversion_rate_treated": round(4 / 6, 4),
        "conversion_rate_control": 0.5,
        "uplift": round(round(4 / 6, 4) - 0.5, 4),
        "attributed_revenue": "1200.00",
        "attributed_margin": "300.00",
        "cost": f"{cost:.2f}",
        "roi": round(float((Decimal("300.00") - cost) / cost), 4),
    }
