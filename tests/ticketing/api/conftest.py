"""The ticketing app against a fresh real database, with a controllable clock and token helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import FastAPI

from services.ticketing.bootstrap import build_app
from services.ticketing.config import TicketingSettings
from services.ticketing.consumers.customers import CustomerReplicaProjector, WithoutPersonalData
from shared.consuming.consumer import apply_records, record_for
from shared.contracts.customer import CustomerRegistered, RelationshipType
from shared.contracts.ticketing import TicketCommented
from shared.events.catalog import DomainEvent
from shared.events.envelope import Envelope, new_envelope
from shared.ids import new_id
from shared.settings import PlatformSettings
from shared.shredding import encrypt_fields
from shared.store.db import connect
from shared.testing.clock import FixedClock
from shared.web import mint_token
from tests.ticketing.builders import a_ticket_request

STAFF_SCOPES = ("tickets:read", "tickets:write")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class TicketingService:
    app: FastAPI
    client: httpx.AsyncClient
    settings: TicketingSettings
    clock: FixedClock
    dsn: str

    def token(self, *scopes: str, customer_id: str | None = None, subject: str = "agent-ayse") -> dict[str, str]:
        granted = scopes or STAFF_SCOPES
        token = mint_token(self.settings, subject, granted, customer_id=customer_id)
        return {"Authorization": f"Bearer {token}"}

    @property
    def staff(self) -> dict[str, str]:
        return self.token()

    @property
    def store(self) -> Any:
        return self.app.state.store

    @property
    def pool(self) -> Any:
        return self.app.state.pool

    async def customer_events(self, *events: DomainEvent) -> None:
        """Deliver customer events as the customer service publishes them (personal fields sealed)."""
        await deliver_customer_events(self.pool, CustomerReplicaProjector(self.store, self.clock), *events)

    async def a_known_customer(self, relationship_type: RelationshipType = "long_term") -> str:
        customer_id = new_id()
        await self.customer_events(
            CustomerRegistered(customer_id=customer_id, relationship_type=relationship_type, registered_at=START)
        )
        return str(customer_id)

    async def open(self, **overrides: Any) -> dict[str, Any]:
        if "customer_id" not in overrides:
            overrides["customer_id"] = await self.a_known_customer()
        response = await self.client.post("/v1/tickets", json=a_ticket_request(**overrides), headers=self.staff)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def act(self, ticket_id: str, action: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.client.post(
            f"/v1/tickets/{ticket_id}/{action}", json=body, headers=kwargs.pop("headers", self.staff), **kwargs
        )

    async def outbox(self, ticket_id: str | None = None) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("select key, headers, payload from outbox order by position")
        events = [
            {
                "key": r["key"].decode(),
                "headers": r["headers"],
                "type": r["headers"]["ce_type"].split(".")[2],
                "data": orjson.loads(r["payload"]),
            }
            for r in rows
        ]
        return [e for e in events if ticket_id is None or e["data"].get("ticket_id") == ticket_id]

    async def types(self, ticket_id: str) -> list[str]:
        return [e["type"] for e in await self.outbox(ticket_id)]

    @asynccontextmanager
    async def agent_note_in_flight(self, ticket: dict[str, Any], at: datetime) -> AsyncIterator[
            Callable[[], Awaitable[None]]]:
        """An agent's internal note appended to ``ticket`` and not committed yet, so whatever else writes
        the ticket meanwhile waits on its lock; yields the commit, to await once that writer waits."""
        conn = await connect(self.dsn)
        try:
            txn = conn.transaction()
            await txn.start()
            note = TicketCommented(ticket_id=UUID(ticket["id"]), customer_id=UUID(ticket["customer_id"]),
                                   comment_id=new_id(), author_id="agent-ayse", visibility="internal",
                                   body="checking", commented_at=at)
            await self.store.append(conn, stream_id=ticket["id"], stream_type="ticket",
                                    expected_version=ticket["version"], events=[note], subject=ticket["customer_id"])
            yield txn.commit
        finally:
            await conn.close()

    async def someone_waits_on_a_lock(self) -> bool:
        return bool(await self.pool.fetchval(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()"))


def sealed_customer_envelopes(*events: DomainEvent) -> list[Envelope]:
    """The envelopes the customer service publishes: personal fields sealed with a key ticketing never sees."""
    key = AESGCM.generate_key(bit_length=256)
    envelopes = []
    for event in events:
        envelope = new_envelope(event, service="customer", subject=str(event.model_dump()["customer_id"]))
        data = encrypt_fields(orjson.loads(envelope.data), event.personal_fields(), key, envelope.subject)
        envelopes.append(replace(envelope, data=orjson.dumps(data)))
    return envelopes


async def deliver_customer_events(pool: Any, projector: CustomerReplicaProjector, *events: DomainEvent) -> None:
    """Apply sealed customer events through the consumer kit (its decoding and inbox), without Kafka."""
    records = [
        record_for(envelope, offset=offset) for offset, envelope in enumerate(sealed_customer_envelopes(*events))
    ]
    dead = await apply_records(pool, projector, records, keys=WithoutPersonalData())
    assert dead == []


def ticketing_settings(platform_settings: PlatformSettings, dsn: str, **overrides: Any) -> TicketingSettings:
    """Settings for a test service on ``dsn`` and this test's topics; ``overrides`` are ``TICKETING_*`` knobs."""
    return TicketingSettings(
        environment="test",
        database_url=dsn,
        kafka_bootstrap_servers=platform_settings.kafka_bootstrap_servers,
        kafka_topic_prefix=platform_settings.kafka_topic_prefix,
        kafka_topic_partitions=2,
        db_pool_max=8,
        **overrides,
    )


@asynccontextmanager
async def running_service(settings: TicketingSettings) -> AsyncIterator[TicketingService]:
    """The app with its lifespan running, an in-process client and a clock the test moves."""
    clock = FixedClock(START)
    app = build_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ticketing") as client:
            yield TicketingService(app, client, settings, clock, settings.database_url)


@pytest.fixture
async def ticketing(
    make_database: Callable[..., Awaitable[str]], platform_settings: PlatformSettings
) -> AsyncIterator[TicketingService]:
    dsn = await make_database("ticketing")
    async with running_service(ticketing_settings(platform_settings, dsn)) as service:
        yield service
