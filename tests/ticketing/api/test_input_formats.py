"""Instants sent to the ticketing API carry a UTC offset."""

from __future__ import annotations

import pytest

from tests.ticketing.api.conftest import TicketingService

STANDARD = {p: {"first_response_minutes": 60, "resolution_minutes": 480} for p in ("low", "normal", "high", "urgent")}


@pytest.mark.parametrize("opened_since", ["2026-01-01T00:00:00", "2026-01-01", 1767225600])
async def test_a_simulation_window_without_an_offset_is_a_422(
    ticketing: TicketingService, opened_since: object
) -> None:
    response = await ticketing.client.post(
        "/v1/sla-policies/simulate",
        json={"policy": {"tiers": {"standard": STANDARD}}, "opened_since": opened_since},
        headers=ticketing.staff,
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "opened_since"]


async def test_a_simulation_window_with_an_offset_is_accepted(ticketing: TicketingService) -> None:
    response = await ticketing.client.post(
        "/v1/sla-policies/simulate",
        json={"policy": {"tiers": {"standard": STANDARD}}, "opened_since": "2026-01-01T03:00:00+03:00"},
        headers=ticketing.staff,
    )
    assert response.status_code == 200, response.text
    assert response.json()["tickets"] == 0
