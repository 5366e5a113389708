"""Instants in analytics query parameters carry a UTC offset (the document says date-time, the server agrees)."""

from __future__ import annotations

import pytest

from services.analytics.config import AnalyticsSettings
from tests.analytics.integration.support import analytics_settings, api, token


@pytest.fixture
async def settings(make_database, platform_settings) -> AnalyticsSettings:  # type: ignore[no-untyped-def]
    return analytics_settings(platform_settings, await make_database("analytics"))


@pytest.mark.parametrize(("start", "end"), [
    ("2026-01-01T00:00:00", "2026-02-01T00:00:00Z"),
    ("2026-01-01T00:00:00Z", "2026-02-01"),
    ("1767225600", "2026-02-01T00:00:00Z"),
    ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
])
async def test_a_kpi_range_must_be_two_instants_with_offsets_in_order(
    settings: AnalyticsSettings, start: str, end: str
) -> None:
    async with api(settings) as client:
        response = await client.get("/v1/kpis/churn", params={"from": start, "to": end}, headers=token(settings))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_kpi_range_with_offsets_is_read_in_utc(settings: AnalyticsSettings) -> None:
    async with api(settings) as client:
        response = await client.get("/v1/kpis/churn", params={"from": "2026-01-01T03:00:00+03:00",
                                                             "to": "2026-02-01T00:00:00Z"}, headers=token(settings))
    assert response.status_code == 200, response.text


async def test_as_of_without_an_offset_is_a_422(settings: AnalyticsSettings) -> None:
    async with api(settings) as client:
        response = await client.get("/v1/customers/0b0f6c3e-6a4c-4d0b-9c55-7d1b1a1f0a01/360",
                                    params={"as_of": "2026-01-02"}, headers=token(settings))
    assert response.status_code == 422, response.text


async def test_the_document_says_date_time_for_every_instant(settings: AnalyticsSettings) -> None:
    async with api(settings) as client:
        document = (await client.get("/openapi.json")).json()
    parameters = {p["name"]: p["schema"] for p in document["paths"]["/v1/kpis/churn"]["get"]["parameters"]}
    assert parameters["from"]["format"] == parameters["to"]["format"] == "date-time"


async def test_the_timeline_filters_by_published_event_types_only(settings: AnalyticsSettings) -> None:
    async with api(settings) as client:
        document = (await client.get("/openapi.json")).json()
        unknown = await client.get("/v1/customers/0b0f6c3e-6a4c-4d0b-9c55-7d1b1a1f0a01/timeline",
                                   params={"type": "Nonsense"}, headers=token(settings))
        known = await client.get("/v1/customers/0b0f6c3e-6a4c-4d0b-9c55-7d1b1a1f0a01/timeline",
                                 params={"type": "OrderPlaced"}, headers=token(settings))
    [parameter] = [p for p in document["paths"]["/v1/customers/{customer_id}/timeline"]["get"]["parameters"]
                   if p["name"] == "type"]
    assert "OrderPlaced" in parameter["schema"]["items"]["enum"]
    assert unknown.status_code == 422, unknown.text
    assert known.status_code in (200, 404), known.text
