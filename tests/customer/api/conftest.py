"""The customer app against a fresh real database, with a controllable clock and token helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from services.customer.bootstrap import build_app
from services.customer.config import CustomerSettings
from shared.ids import new_id
from shared.settings import PlatformSettings
from shared.testing.clock import FixedClock
from shared.web import mint_token

STAFF_SCOPES = ("customers:read", "customers:write", "orders:write")


@dataclass
class CustomerService:
    app: FastAPI
    client: httpx.AsyncClient
    settings: CustomerSettings
    clock: FixedClock
    dsn: str

    def token(self, *scopes: str, customer_id: str | None = None) -> dict[str, str]:
        granted = scopes or STAFF_SCOPES
        return {"Authorization": f"Bearer {mint_token(self.settings, 'tester', granted, customer_id=customer_id)}"}

    @property
    def staff(self) -> dict[str, str]:
        return self.token()

    async def register(self, **overrides: Any) -> dict[str, Any]:
        response = await self.client.post("/v1/customers", json=a_customer(**overrides), headers=self.staff)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def place_order(self, customer_id: str, **overrides: Any) -> dict[str, Any]:
        response = await self.client.post("/v1/orders", json=an_order(customer_id, **overrides), headers=self.staff)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def outbox(self) -> list[dict[str, Any]]:
        rows = await self.app.state.pool.fetch("select key, headers, payload from outbox order by position")
        return [{"key": r["key"].decode(), "headers": r["headers"], "data": orjson.loads(r["payload"])} for r in rows]


def a_customer(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Ayşe Demir",
        "email": f"ayse.{new_id().hex[-12:]}@example.com",
        "acquisition_channel": "web",
        "acquisition_cost": "25.00",
        "timezone": "Europe/Istanbul",
        "relationship_type": "long_term",
        "consents": {"email": True},
        "interests": ["Coffee", "tea"],
    }
    body.update(overrides)
    return body


def an_order(customer_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "lines": [
            {
                "sku": "K-1",
                "name": "Kettle",
                "category": "kitchen",
                "quantity": 2,
                "unit_price": "19.99",
                "unit_cost": "12.50",
            },
            {
                "sku": "C-9",
                "name": "Coffee",
                "category": "food",
                "quantity": 1,
                "unit_price": "7.50",
                "unit_cost": "3.00",
            },
        ],
        "currency": "EUR",
        "channel": "web",
        "offer_code": "SPRING",
    }
    body.update(overrides)
    return body


@asynccontextmanager
async def running_customer_service(
    make_database: Callable[..., Awaitable[str]], platform_settings: PlatformSettings, **overrides: Any
) -> AsyncIterator[CustomerService]:
    """The app on a fresh database; ``overrides`` are ``CustomerSettings`` fields (e.g. the return window)."""
    dsn = await make_database("customer")
    settings = CustomerSettings(
        environment="test",
        database_url=dsn,
        kafka_bootstrap_servers=platform_settings.kafka_bootstrap_servers,
        kafka_topic_prefix=platform_settings.kafka_topic_prefix,
        kafka_topic_partitions=2,
        db_pool_max=12,
        **overrides,
    )
    clock = FixedClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    app = build_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://customer") as client:
            yield CustomerService(app, client, settings, clock, dsn)


@pytest.fixture
async def customer_service(
    make_database: Callable[..., Awaitable[str]], platform_settings: PlatformSettings
) -> AsyncIterator[CustomerService]:
    async with running_customer_service(make_database, platform_settings) as service:
        yield service
