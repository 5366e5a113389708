"""Campaign windows are instants with an offset, stored in UTC; nulls only where the document offers them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from services.campaigns.bootstrap import build_app
from services.campaigns.config import CampaignsSettings
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


@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
@pytest.mark.parametrize("value", ["2030-01-01T10:00:00", "2030-01-01", 1893492000])
async def test_a_campaign_window_without_a_utc_offset_is_a_422(
    client: httpx.AsyncClient, field: str, value: object
) -> None:
    response = await client.post("/v1/campaigns", json=a_definition_document(**{field: value}))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["body", field]
    listed = await client.get("/v1/campaigns")
    assert listed.json()["items"] == []


async def test_a_campaign_window_with_an_offset_is_stored_in_utc(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/campaigns", json=a_definition_document(
        starts_at="2030-01-01T10:00:00+03:00", ends_at="2030-02-01T00:00:00Z"))
    assert created.status_code == 201, created.text
    assert created.json()["starts_at"] == "2030-01-01T07:00:00Z"
    assert created.json()["ends_at"] == "2030-02-01T00:00:00Z"


async def test_changing_a_window_to_a_naive_time_is_a_422_and_changes_nothing(client: httpx.AsyncClient) -> None:
    campaign = (await client.post("/v1/campaigns", json=a_definition_document())).json()
    response = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"ends_at": "2030-01-01T10:00:00"})
    assert response.status_code == 422, response.text
    after = await client.get(f"/v1/campaigns/{campaign['id']}")
    assert (after.json()["ends_at"], after.json()["version"]) == (None, campaign["version"])
    fixed = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"ends_at": "2030-01-01T10:00:00-02:00"})
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["ends_at"] == "2030-01-01T12:00:00Z"


@pytest.mark.parametrize("total", [1000, 1000.5, "1000.005"])
async def test_a_budget_that_is_not_a_decimal_string_is_a_422(client: httpx.AsyncClient, total: object) -> None:
    document = a_definition_document()
    document["budget"]["total"] = total
    response = await client.post("/v1/campaigns", json=document)
    assert response.status_code == 422, response.text


async def test_null_is_refused_exactly_where_the_document_does_not_offer_it(client: httpx.AsyncClient) -> None:
    campaign = (await client.post("/v1/campaigns", json=a_definition_document())).json()
    refused = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"objective": None})
    assert refused.status_code == 422, refused.text
    cleared = await client.patch(f"/v1/campaigns/{campaign['id']}", json={"budget": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["budget"] is None
    update = (await client.get("/openapi.json")).json()["components"]["schemas"]["CampaignUpdate"]["properties"]
    assert "anyOf" not in update["objective"] and "null" not in str(update["objective"])
    assert {"type": "null"} in update["budget"]["anyOf"]
