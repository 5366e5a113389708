"""The campaigns engine on real infrastructure: publish like the producers, run the Faust worker, read what it wrote.

``Stage.deliver`` feeds the same projector through the consumer kit without Kafka, for tests about the database.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.campaigns.adapters.readmodel import PostgresReadModel
from services.campaigns.application import handlers
from services.campaigns.bootstrap import build_engine, engine_worker, event_store
from services.campaigns.config import CampaignsSettings
from services.campaigns.consumers.engine import CampaignEngine
from services.campaigns.domain.model import CampaignStatus
from shared.consuming.consumer import KeyProvider, apply_records, record_for
from shared.consuming.streams import ProjectionWorker
from shared.contracts.campaigns import MESSAGES_TOPIC
from shared.contracts.customer import Consents, CustomerRegistered, OrderPlaced
from shared.events.catalog import DomainEvent
from shared.events.envelope import Envelope, new_envelope, to_kafka
from shared.settings import PlatformSettings
from shared.store.db import create_pool
from shared.store.idempotent_commands import run_command
from shared.testing.clock import FixedClock
from shared.testing.kafka import ConsumedRecord, drain_outbox, end_offsets, make_producer, read_topic
from shared.testing.waiting import eventually
from tests.campaigns.unit.builders import a_definition_document

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def envelope(event: DomainEvent, *, time: datetime = NOON) -> Envelope:
    """The envelope the producing service would publish (subject: the customer)."""
    return new_envelope(event, service=event.domain, subject=str(event.model_dump()["customer_id"]), time=time)


def a_registration(customer_id: str, **overrides: Any) -> CustomerRegistered:
    values: dict[str, Any] = {"customer_id": uuid.UUID(customer_id), "registered_at": NOON, "timezone": "UTC",
                              "consents": Consents(email=True, sms=True)}
    values.update(overrides)
    return CustomerRegistered(**values)


def an_order(customer_id: str, total: str = "1500.00", **overrides: Any) -> OrderPlaced:
    values: dict[str, Any] = {"customer_id": uuid.UUID(customer_id), "order_id": uuid.uuid4(), "lines": [],
                              "total": Decimal(total), "currency": "TRY", "channel": "web", "placed_at": NOON}
    values.update(overrides)
    return OrderPlaced(**values)


class Stage:
    """A campaigns database, its engine as a real Faust worker, and the test's own topics."""

    def __init__(self, settings: CampaignsSettings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool
        self.store = event_store(settings)
        self.engine = build_engine(settings)
        self.clock = FixedClock(NOON)
        self.worker: ProjectionWorker | None = None

    @classmethod
    async def open(cls, platform: PlatformSettings, dsn: str, *, pool_size: int = 4) -> Stage:
        settings = CampaignsSettings(**platform.model_dump(), database_url=dsn)
        return cls(settings, await create_pool(dsn, min_size=1, max_size=pool_size))

    async def deliver(self, *envelopes: Envelope) -> None:
        """Through the consumer kit's decode + inbox path without Kafka (one batch, one transaction)."""
        records = [record_for(e) for e in envelopes]
        assert await apply_records(self.pool, CampaignEngine(self.engine, self.clock), records) == []

    async def close(self) -> None:
        await self.stop_engine()
        await self.pool.close()

    async def start_engine(self, keys: KeyProvider | None = None) -> None:
        self.worker = engine_worker(self.settings, keys=keys, clock=self.clock, batch_size=500)
        await self.worker.start()

    async def stop_engine(self) -> None:
        if self.worker is not None:
            worker, self.worker = self.worker, None
            await worker.stop()

    async def campaign(self, document: dict[str, Any] | None = None, **overrides: Any) -> str:
        body = document or a_definition_document(**overrides)
        created = await run_command(self.pool, self.store, lambda uow: handlers.create_campaign(uow, document=body),
                                    rows_factory=PostgresReadModel)
        campaign_id = str(created.resource["id"])
        await run_command(self.pool, self.store, lambda uow: handlers.change_status(
            uow, campaign_id=campaign_id, to=CampaignStatus.ACTIVE, if_match=None, now=self.clock.now()),
            rows_factory=PostgresReadModel)
        return campaign_id

    async def publish(self, *envelopes: Envelope) -> None:
        """Publish to the real ``<domain>.events`` topics, keyed by customer, as the producers' relays do."""

        def send() -> None:
            producer = make_producer(self.settings.kafka_bootstrap_servers)
            try:
                for item in envelopes:
                    key, value, headers = to_kafka(item)
                    producer.send(self.settings.topic(f"{item.type_name.domain}.events"), key=key, value=value,
                                  headers=headers)
                producer.flush(30)
            finally:
                producer.close(10)

        await asyncio.to_thread(send)

    async def applied(self, event_id: uuid.UUID | str) -> bool:
        """Whether the engine has applied (or deliberately skipped) this event."""
        return bool(await self.pool.fetchval(
            "select exists(select 1 from inbox where consumer = 'campaigns-engine' and event_id = $1)",
            uuid.UUID(str(event_id))))

    async def until_applied(self, *envelopes: Envelope, timeout: float = 60) -> None:
        for item in envelopes:

            async def done(event_id: uuid.UUID = item.id) -> bool:
                return await self.applied(event_id)

            await eventually(done, timeout=timeout, message=f"engine applied {item.type_name.event_type}")

    async def decisions(self, campaign_id: str | None = None) -> int:
        return int(await self.pool.fetchval(
            "select count(*) from decisions where $1::uuid is null or campaign_id = $1",
            None if campaign_id is None else uuid.UUID(campaign_id)))

    async def drain(self) -> int:
        return await drain_outbox(self.settings.database_url, self.settings)

    async def topic(self, logical: str) -> list[ConsumedRecord]:
        """Everything on one of this test's topics."""
        name = self.settings.topic(logical)

        def read() -> list[ConsumedRecord]:
            return read_topic(self.settings.kafka_bootstrap_servers, name, expected=end_offsets(
                self.settings.kafka_bootstrap_servers, name))

        return await asyncio.to_thread(read)

    async def campaign_events(self, event_type: str) -> list[ConsumedRecord]:
        return [r for r in await self.topic("campaigns.events") if f".{event_type}." in r.headers["ce_type"]]

    async def message_requests(self) -> list[ConsumedRecord]:
        return await self.topic(MESSAGES_TOPIC)
