"""The HTTP adapter asking other services for their export parts: retries a service that is away, not a refusal."""

from __future__ import annotations

import httpx
import pytest

from services.customer.adapters import export_parts
from services.customer.adapters.export_parts import HttpExportParts
from services.customer.application.ports import ExportParts
from services.customer.config import CustomerSettings
from shared.ids import new_id
from shared.web.service_token import ServiceToken

URLS = {"ticketing": "http://ticketing.test/", "campaigns": "http://campaigns.test"}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff between attempts is recorded, not waited for."""
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(export_parts.asyncio, "sleep", record)
    return waits


def _parts(answers: list[httpx.Response], seen: list[httpx.Request]) -> ExportParts:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return HttpExportParts(URLS, ServiceToken(CustomerSettings(), "customer-exports"),
                           transport=httpx.MockTransport(handle))


async def test_a_part_is_fetched_with_the_service_token_after_a_503(no_backoff: list[float]) -> None:
    customer_id, seen = new_id(), []
    parts = _parts([httpx.Response(503), httpx.Response(200, json={"service": "ticketing", "sections": {}})], seen)
    body = await parts.fetch("ticketing", customer_id)
    assert body == {"service": "ticketing", "sections": {}}
    assert [str(r.url) for r in seen] == [f"http://ticketing.test/v1/internal/customers/{customer_id}/export"] * 2
    assert seen[0].headers["authorization"].startswith("Bearer ey")
    assert no_backoff == [0.5]


async def test_a_refusal_is_not_retried_and_names_the_status() -> None:
    seen: list[httpx.Request] = []
    parts = _parts([httpx.Response(403)], seen)
    with pytest.raises(RuntimeError, match="answered 403"):
        await parts.fetch("campaigns", new_id())
    assert len(seen) == 1


async def test_a_part_of_another_service_is_refused() -> None:
    parts = _parts([httpx.Response(200, json={"service": "analytics"})], [])
    with pytest.raises(RuntimeError, match="answered a part of 'analytics'"):
        await parts.fetch("ticketing", new_id())


async def test_a_service_away_every_time_fails_after_the_attempts(no_backoff: list[float]) -> None:
    seen: list[httpx.Request] = []
    parts = _parts([httpx.Response(503)] * export_parts.ATTEMPTS, seen)
    with pytest.raises(RuntimeError, match="could not be had: answered 503"):
        await parts.fetch("ticketing", new_id())
    assert (len(seen), no_backoff) == (3, [0.5, 1.0, 2.0])
