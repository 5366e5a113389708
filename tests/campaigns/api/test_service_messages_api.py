"""GET/PUT /v1/service-messages against real PostgreSQL: defaults, ETag/If-Match, 422s that change nothing, events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from services.campaigns.bootstrap import build_app
from services.campaigns.config import CampaignsSettings
from shared.settings import PlatformSettings
from shared.testing.clock import FixedClock
from shared.web import mint_token

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
REFUND = {"kind": "refund_paid", "text": "We paid back {amount} {currency} for order {order_ref}.",
          "channels": ["sms", "email"], "enabled": True}


class Api:
    def __init__(self, http: httpx.AsyncClient, admin: str, dsn: str) -> None:
        self.http, self.admin, self.dsn = http, admin, dsn

    async def put(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.http.put("/v1/service-messages", json=body,
                                   headers={"Authorization": f"Bearer {self.admin}", **headers})

    async def events(self) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch(
                "select data::text from events where stream_id = 'service-message-templates' order by version")
        finally:
            await conn.close()
        return [orjson.loads(r[0]) for r in rows]


@pytest.fixture
async def api(make_database: Callable[..., Awaitable[str]], platform_settings: PlatformSettings) -> AsyncIterator[Api]:
    dsn = await make_database("campaigns")
    settings = CampaignsSettings(**platform_settings.model_dump(), database_url=dsn)
    app = build_app(settings, clock=FixedClock(NOW))
    marketer = mint_token(settings, "marketer", ["campaigns:read", "campaigns:write"])
    admin = mint_token(settings, "ops-lead", ["admin"])
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test",
        headers={"Authorization": f"Bearer {marketer}"},
    ) as http:
        yield Api(http, admin, dsn)


async def test_before_any_change_the_defaults_are_version_0(api: Api) -> None:
    answer = await api.http.get("/v1/service-messages")
    assert answer.status_code == 200
    assert answer.headers["ETag"] == '"0"'
    body = answer.json()
    assert [t["kind"] for t in body["templates"]] == ["complaint_resolved", "order_delivered", "refund_paid"]
    assert (body["version"], body["changed_by"], body["changed_at"]) == (0, None, None)


async def test_an_admin_replaces_a_template_with_if_match_and_the_change_is_an_event(api: Api) -> None:
    changed = await api.put({"templates": [REFUND]}, **{"If-Match": '"0"'})
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] == '"1"'
    body = changed.json()
    refund = next(t for t in body["templates"] if t["kind"] == "refund_paid")
    assert refund == REFUND
    # The kinds not listed keep their default wording.
    assert next(t for t in body["templates"] if t["kind"] == "order_delivered")["text"].startswith("Your order")
    assert (body["version"], body["changed_by"], body["changed_at"]) == (1, "ops-lead", "2026-11-20T10:00:00Z")
    again = await api.put({"templates": [REFUND]}, **{"If-Match": '"1"'})
    assert again.headers["ETag"] == '"1"'  # the same templates: nothing recorded
    stale = await api.put({"templates": []}, **{"If-Match": '"0"'})
    assert stale.status_code == 412
    events = await api.events()
    assert [(e["version"], e["changed_by"]) for e in events] == [(1, "ops-lead")]
    assert (await api.http.get("/v1/service-messages")).json()["templates"] == body["templates"]


@pytest.mark.parametrize(("template", "field"), [
    ({**REFUND, "text": "Paid {ticket_ref}"}, "templates[0].text"),
    ({**REFUND, "text": "Paid {amount"}, "templates[0].text"),
    ({**REFUND, "text": "Paid {amount:>9999999}"}, "templates[0].text"),
    ({**REFUND, "channels": ["sms", "sms"]}, "templates[0].channels"),
])
async def test_a_template_that_cannot_render_is_a_422_naming_the_field_and_changes_nothing(
    api: Api, template: dict[str, Any], field: str
) -> None:
    refused = await api.put({"templates": [template]})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert field in refused.text
    assert (await api.http.get("/v1/service-messages")).headers["ETag"] == '"0"'
    assert await api.events() == []


@pytest.mark.parametrize("body", [
    {"templates": [{**REFUND, "kind": "birthday"}]},
    {"templates": [{**REFUND, "text": "   "}]},
    {"templates": [{**REFUND, "channels": []}]},
    {"templates": [{**REFUND, "channels": ["fax"]}]},
    {"templates": [REFUND], "extra": 1},
    {"templates": [{**REFUND, "enabled": "yes"}]},
])
async def test_malformed_bodies_are_422(api: Api, body: dict[str, Any]) -> None:
    refused = await api.put(body)
    assert refused.status_code == 422, refused.text
    assert await api.events() == []


async def test_only_an_admin_changes_the_templates(api: Api) -> None:
    assert (await api.http.put("/v1/service-messages", json={"templates": []})).status_code == 403


async def test_a_customer_without_follow_ups_has_an_empty_list(api: Api) -> None:
    listed = await api.http.get("/v1/customers/6f1c2c4e-0000-4000-8000-000000000001/service-messages")
    assert listed.status_code == 200
    assert listed.json() == {"items": []}
    assert (await api.http.get("/v1/customers/not-a-uuid/service-messages")).status_code == 422
