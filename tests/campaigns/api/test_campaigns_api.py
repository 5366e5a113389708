"""The campaigns HTTP API against real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from services.campaigns.bootstrap import build_app
from services.campaigns.config import CampaignsSettings
from services.campaigns.domain.ready_made import READY_MADE
from shared.settings import PlatformSettings
from shared.web import mint_token
from tests.campaigns.unit.builders import a_definition_document


@pytest.fixture
async def client(make_database: Callable[..., Awaitable[str]],
                 platform_settings: PlatformSettings) -> AsyncIterator[httpx.AsyncClient]:
    dsn = await make_database("campaigns")
    settings = CampaignsSettings(**platform_settings.model_dump(), database_url=dsn)
    app = build_app(settings)
    token = mint_token(settings, "tester", ["campaigns:read", "campaigns:write"])
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        yield http


async def create(client: httpx.AsyncClient, **overrides: Any) -> httpx.Response:
    return await client.post("/v1/campaigns", json=a_definition_document(**overrides))


async def test_create_read_and_activate_a_campaign(client: httpx.AsyncClient) -> None:
    created = await create(client, control_group_pct=10)
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["status"] == "draft"
    assert campaign["budget"]["total"] == "1000.00"
    fetched = await client.get(f"/v1/campaigns/{campaign['id']}")
    assert fetched.headers["ETag"] == '"1"'
    activated = await client.post(f"/v1/campaigns/{campaign['id']}/activate", headers={"If-Match": '"1"'})
    assert activated.json()["status"] == "active"
    edit = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"name": "renamed"})
    assert edit.status_code == 409


async def test_an_unknown_field_in_a_condition_is_a_422_with_its_position(client: httpx.AsyncClient) -> None:
    response = await create(client, trigger={"event_type": "OrderPlaced", "condition": "event.totl > 5"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["line"], problem["column"]) == (1, 7)
    assert (await client.get("/v1/campaigns")).json()["items"] == []


async def test_an_offer_from_recommendations_that_also_names_a_sku_is_a_422(client: httpx.AsyncClient) -> None:
    action = {"kind": "offer", "channels": ["email"], "template": "recommended-for-you",
              "offer": {"from_recommendations": True, "sku": "SKU-1"}}
    response = await create(client, action=action)
    assert response.status_code == 422
    assert response.json()["field"] == "action.offer.from_recommendations"
    action["offer"] = {"from_recommendations": True, "discount_pct": 10}
    created = await create(client, action=action)
    assert created.status_code == 201, created.text
    assert created.json()["action"]["offer"]["from_recommendations"] is True


async def test_a_stale_if_match_is_412(client: httpx.AsyncClient) -> None:
    campaign = (await create(client)).json()
    response = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"name": "x"}, headers={"If-Match": '"9"'})
    assert response.status_code == 412


async def test_ready_made_campaigns_load_through_the_api(client: httpx.AsyncClient) -> None:
    for document in READY_MADE.values():
        response = await client.post("/v1/campaigns", json=document)
        assert response.status_code == 201, response.text
    page = (await client.get("/v1/campaigns", params={"limit": 5})).json()
    assert len(page["items"]) == 5 and page["next_cursor"]
    rest = (await client.get("/v1/campaigns", params={"limit": 5, "cursor": page["next_cursor"]})).json()
    assert len(rest["items"]) == len(READY_MADE) - 5 and rest["next_cursor"] is None
    names = {item["name"] for item in page["items"] + rest["items"]}
    assert names == {document["name"] for document in READY_MADE.values()}


async def test_performance_of_a_new_campaign_is_all_zero(client: httpx.AsyncClient) -> None:
    campaign = (await create(client)).json()
    performance = (await client.get(f"/v1/campaigns/{campaign['id']}/performance")).json()
    assert performance["sent"] == 0 and performance["suppressed"] == {} and performance["cost"] == "0.00"
    assert performance["roi"] is None


async def test_survey_answer_rules(client: httpx.AsyncClient) -> None:
    sent = await client.post("/v1/surveys", json={"customer_id": "c-1", "kind": "nps"})
    assert sent.status_code == 201, sent.text
    survey = sent.json()
    answer_url = f"/v1/surveys/{survey['id']}/responses"
    anonymous = httpx.AsyncClient(transport=client._transport, base_url="http://test")
    async with anonymous:
        out_of_range = await anonymous.post(answer_url, json={"token": survey["response_token"], "score": 11})
        assert out_of_range.status_code == 422
        wrong_token = await anonymous.post(answer_url, json={"token": "nope", "score": 3})
        assert wrong_token.status_code == 403
        answered = await anonymous.post(answer_url, json={"token": survey["response_token"], "score": 3,
                                                          "comment": "slow delivery"})
        assert answered.status_code == 201
        assert answered.json()["nps_category"] == "detractor"
        again = await anonymous.post(answer_url, json={"token": survey["response_token"], "score": 9})
        assert again.status_code == 409


async def test_unauthenticated_campaign_calls_are_401(client: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(transport=client._transport, base_url="http://test") as anonymous:
        assert (await anonymous.get("/v1/campaigns")).status_code == 401
