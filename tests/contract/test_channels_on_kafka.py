"""Every record the real relays publish is declared on its channel in docs/asyncapi.yaml.

A subscriber reads the document to learn which topic carries which event. This test publishes the way
the services do: one event of every type each service produces, appended through that service's own
event store (its topic comes from the service's wiring, not from the document), every erasure
acknowledgement through all four stores, and a message request through the campaigns engine's outbox
path to ``campaigns.messages``. The real outbox relays publish them to the real broker; every record
read back must carry a ``ce_type`` its channel declares, and every channel must have carried records.

The suite-wide contract guard (``shared.testing.contract_guard``) checks the same routing for every
outbox row any other test writes, through the services' real code paths.
"""

from __future__ import annotations

import asyncio
import enum
import types
import typing
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from services.analytics.bootstrap import event_store as analytics_store
from services.analytics.config import AnalyticsSettings
from services.campaigns.application.engine import request_messages
from services.campaigns.bootstrap import build_engine
from services.campaigns.bootstrap import event_store as campaigns_store
from services.campaigns.config import CampaignsSettings
from services.customer.bootstrap import event_store as customer_store
from services.customer.config import CustomerSettings
from services.ticketing.bootstrap import event_store as ticketing_store
from services.ticketing.config import TicketingSettings
from shared.contracts.campaigns import MessageRequested
from shared.contracts.privacy import CustomerDataErased
from shared.events.catalog import CATALOG, DomainEvent
from shared.outbox.relay import OutboxRelay
from shared.outbox.topics import EVENT_TOPICS, MESSAGE_TOPICS
from shared.schemagen import REPO_ROOT, channel_types, topics_of
from shared.settings import PlatformSettings, ServiceSettings
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.testing.kafka import end_offsets, read_topic
from shared.testing.waiting import eventually

AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
M = TypeVar("M", bound=BaseModel)

STORES: dict[str, tuple[type[ServiceSettings], Callable[[Any], EventStore]]] = {
    "customer": (CustomerSettings, customer_store),
    "ticketing": (TicketingSettings, ticketing_store),
    "campaigns": (CampaignsSettings, campaigns_store),
    "analytics": (AnalyticsSettings, analytics_store),
}
"""Each service's settings and its own event-store factory (the one its API and workers use)."""

SENT_BY_ENGINE = (MessageRequested,)
"""Published through the campaigns engine's message outbox, not stored in the event log."""


def _candidates(annotation: Any) -> list[Any]:
    """Values to try for a field of this type, simplest first."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _candidates(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [v for arg in typing.get_args(annotation) if arg is not type(None) for v in _candidates(arg)]
    if origin is typing.Literal:
        return list(typing.get_args(annotation))
    if origin is list:
        return [[v] for v in _candidates(typing.get_args(annotation)[0])[:1]]
    if origin is dict:
        return [{"key": "value"}, {"key": 1}]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return list(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [an_instance(annotation)]
    simple: dict[Any, list[Any]] = {
        uuid.UUID: [uuid.uuid4()], str: ["sample", "EUR"], datetime: [AT], date: [AT.date()], bool: [True],
        int: [1, 0], float: [0.9, 0.5], time: [time(21, 0)], Decimal: [Decimal("1.00"), Decimal("0.5")],
        object: ["sample"],
    }
    if annotation in simple:
        return simple[annotation]
    raise TypeError(f"no sample value for {annotation!r}")


def an_instance(model: type[M]) -> M:
    """A valid instance of ``model`` with every field set (optional ones too, so they are published)."""
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        constrained = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        adapter: TypeAdapter[Any] = TypeAdapter(constrained)
        for candidate in _candidates(info.annotation):
            try:
                values[name] = adapter.validate_python(candidate)
                break
            except ValidationError:
                continue
        else:
            raise TypeError(f"no valid sample for {model.__name__}.{name}")
    return model.model_validate(values)


def produced_by(service: str) -> list[type[DomainEvent]]:
    """The current version of every event type a service produces: its domain's, and its erasure acknowledgement."""
    latest = [m for m in CATALOG if CATALOG.latest_version(m.event_type) == m.event_version]
    return [m for m in latest if (m.domain == service and m not in SENT_BY_ENGINE) or m is CustomerDataErased]


async def publish_through_the_relay(dsn: str, bootstrap: str) -> None:
    """Run the service's outbox relay until its outbox is empty."""
    pool = await create_pool(dsn, min_size=1, max_size=1)
    stop = asyncio.Event()
    relay = OutboxRelay(dsn=dsn, bootstrap_servers=bootstrap, name="contract-relay", poll_interval=0.1)
    task = asyncio.create_task(relay.run(stop))
    try:
        await eventually(lambda: pool.fetchval("select count(*) from outbox where published_at is null"),
                         until=lambda n: n == 0, timeout=60, message="the relay publishes the outbox")
    finally:
        stop.set()
        await task
        await pool.close()


async def test_every_record_the_relays_publish_is_declared_on_its_channel(
    make_database: Callable[..., Awaitable[str]], platform_topics_created: PlatformSettings
) -> None:
    platform = platform_topics_created
    declared = channel_types(yaml.safe_load((REPO_ROOT / "docs" / "asyncapi.yaml").read_text()))
    sent: Counter[str] = Counter()
    for service, (settings_class, store_of) in STORES.items():
        dsn = await make_database(service)
        settings = settings_class(**platform.model_dump(), database_url=dsn)
        store = store_of(settings)
        pool = await create_pool(dsn, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn, conn.transaction():
                for model in produced_by(service):
                    subject = str(uuid.uuid4())
                    await store.append(conn, stream_id=f"{model.event_type}-{subject}", stream_type="contract",
                                       expected_version=0, events=[an_instance(model)], subject=subject)
                    sent[model.ce_type()] += 1
                if service == "campaigns":
                    assert isinstance(settings, CampaignsSettings)
                    requests = [an_instance(model) for model in SENT_BY_ENGINE]
                    await request_messages(build_engine(settings), conn, requests)  # type: ignore[arg-type]
                    sent.update(r.ce_type() for r in requests)
        finally:
            await pool.close()
        await publish_through_the_relay(dsn, platform.kafka_bootstrap_servers)

    received: Counter[str] = Counter()
    misplaced: list[str] = []
    per_channel: dict[str, int] = {}
    for topic in (*EVENT_TOPICS, *MESSAGE_TOPICS):
        physical = platform.topic(topic)
        records = read_topic(platform.kafka_bootstrap_servers, physical,
                             expected=end_offsets(platform.kafka_bootstrap_servers, physical))
        per_channel[topic] = len(records)
        for record in records:
            received[record.headers["ce_type"]] += 1
            if record.headers["ce_type"] not in declared[topic]:
                misplaced.append(f"{record.headers['ce_type']} on {topic}")
    assert misplaced == []
    assert received == sent  # every record came back, none twice
    assert all(per_channel.values()), per_channel
    published = {m.event_type for m in CATALOG if topics_of(m)}  # PersonalDataViewed stays in its event store
    assert len(sent) == len(published), "one of every event type that can be produced"


@pytest.mark.parametrize("model", list(CATALOG), ids=lambda m: f"{m.event_type}V{m.event_version}")
def test_the_sample_builder_makes_a_valid_instance_of_every_event_type(model: type[DomainEvent]) -> None:
    instance = an_instance(model)
    assert type(instance).model_validate(instance.model_dump(mode="json")) == instance
