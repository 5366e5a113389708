"""The engine against real PostgreSQL, fed through the consumer kit's decode + inbox path."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.campaigns.adapters.readmodel import PostgresReadModel
from services.campaigns.application import handlers
from services.campaigns.application.engine import Engine, fire_due_timers
from services.campaigns.consumers.engine import CampaignEngine
from services.campaigns.domain.model import CampaignStatus
from shared.consuming.consumer import apply_records, record_for
from shared.contracts.customer import Consents, CustomerRegistered, OrderPlaced
from shared.events.catalog import DomainEvent
from shared.events.envelope import HISTORY_HEADER, HISTORY_IMPORT, Envelope, new_envelope
from shared.store.db import create_pool
from shared.store.eventstore import EventStore
from shared.store.idempotent_commands import run_command
from shared.testing.clock import FixedClock
from tests.campaigns.unit.builders import a_definition_document

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class World:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.store = EventStore(service="campaigns", topic="campaigns.events")
        self.engine = Engine(store=self.store, messages_topic="campaigns.messages")
        self.clock = FixedClock(NOON)
        self.projector = CampaignEngine(self.engine, self.clock)

    async def campaign(self, **overrides: Any) -> str:
        document = a_definition_document(**overrides)
        created = await run_command(self.pool, self.store,
                                    lambda uow: handlers.create_campaign(uow, document=document),
                                    rows_factory=PostgresReadModel)
        campaign_id = str(created.resource["id"])
        await run_command(self.pool, self.store, lambda uow: handlers.change_status(
            uow, campaign_id=campaign_id, to=CampaignStatus.ACTIVE, if_match=None, now=self.clock.now()),
            rows_factory=PostgresReadModel)
        return campaign_id

    async def deliver(self, *envelopes: Envelope) -> None:
        dead = await apply_records(self.pool, self.projector, [record_for(e) for e in envelopes])
        assert dead == []

    async def customer(self, **consents: bool) -> str:
        customer_id = uuid.uuid4()
        await self.deliver(envelope(CustomerRegistered(
            customer_id=customer_id, registered_at=NOON - timedelta(days=100), timezone="UTC",
            consents=Consents(**(consents or {"email": True, "sms": True})))))
        return str(customer_id)

    async def events_about(self, customer_id: str) -> list[tuple[str, dict[str, Any]]]:
        rows = await self.pool.fetch("select event_type, data from events where subject = $1 order by position",
                                     customer_id)
        return [(r["event_type"], r["data"]) for r in rows]

    async def message_requests(self, customer_id: str) -> int:
        return int(await self.pool.fetchval(
            "select count(*) from outbox where topic = 'campaigns.messages' and key = $1", customer_id.encode()))


def envelope(event: DomainEvent, subject: str | None = None) -> Envelope:
    subject = subject or str(event.model_dump()["customer_id"])
    return new_envelope(event, service="customer", subject=subject, time=NOON)


def an_order(customer_id: str, total: str = "1500.00", **overrides: Any) -> OrderPlaced:
    values: dict[str, Any] = {"customer_id": uuid.UUID(customer_id), "order_id": uuid.uuid4(), "lines": [],
                              "total": Decimal(total), "currency": "TRY", "channel": "web", "placed_at": NOON}
    values.update(overrides)
    return OrderPlaced(**values)


@pytest.fixture
async def world(make_database: Callable[..., Awaitable[str]]) -> AsyncIterator[World]:
    dsn = await make_database("campaigns")
    pool = await create_pool(dsn, min_size=1, max_size=4)
    try:
        yield World(pool)
    finally:
        await pool.close()


async def test_a_big_order_sends_one_offer_with_a_message_request(world: World) -> None:
    await world.campaign()
    customer = await world.customer()
    await world.deliver(envelope(an_order(customer)))
    events = await world.events_about(customer)
    offers = [data for kind, data in events if kind == "OfferSent"]
    assert len(offers) == 1
    assert offers[0]["channel"] == "email"
    assert offers[0]["cost"] == "0.10"
    assert await world.message_requests(customer) == 1


async def test_redelivery_does_not_send_twice(world: World) -> None:
    await world.campaign(caps={"per_customer": 5})
    customer = await world.customer()
    order = envelope(an_order(customer))
    await world.deliver(order)
    await world.deliver(order)
    # Even past the inbox (a replay into a fresh inbox), the decisions table keeps it to one.
    await world.pool.execute("delete from inbox")
    await world.deliver(order)
    assert [k for k, _ in await world.events_about(customer)].count("OfferSent") == 1
    assert await world.message_requests(customer) == 1


async def test_channel_integration_blocks_a_second_offer_for_the_same_product(world: World) -> None:
    await world.campaign(name="first")
    await world.campaign(name="second", action={"kind": "offer", "channels": ["sms"], "template": "other",
                                                "offer": {"sku": "DEPOSIT-12M", "discount_pct": 5}})
    customer = await world.customer()
    await world.deliver(envelope(an_order(customer)))
    kinds = await world.events_about(customer)
    assert [k for k, _ in kinds].count("OfferSent") == 1
    suppressed = [d for k, d in kinds if k == "MessageSuppressed"]
    assert [d["reason"] for d in suppressed] == ["channel_conflict"]


async def test_budget_runs_out_with_one_exhausted_event(world: World) -> None:
    campaign_id = await world.campaign(budget={"total": "0.20", "cost_per_send": {"email": "0.10"}})
    customers = [await world.customer() for _ in range(3)]
    await world.deliver(*[envelope(an_order(c)) for c in customers])
    sent = await world.pool.fetchval("select count(*) from events where event_type = 'OfferSent'")
    exhausted = await world.pool.fetchval(
        "select count(*) from events where event_type = 'CampaignBudgetExhausted' and subject = $1", campaign_id)
    suppressed = await world.pool.fetchval(
        "select count(*) from decisions where reason = 'budget_exhausted'")
    assert (sent, exhausted, suppressed) == (2, 1, 1)
    assert await world.pool.fetchval("select spent from campaign_budgets") == Decimal("0.20")


async def test_redemption_and_invalid_codes(world: World) -> None:
    await world.campaign()
    customer = await world.customer()
    other = await world.customer()
    await world.deliver(envelope(an_order(customer)))
    code = await world.pool.fetchval("select code from offers where customer_id = $1", customer)
    await world.deliver(envelope(an_order(other, "50.00", offer_code=code)))
    await world.deliver(envelope(an_order(customer, "300.00", offer_code=code, margin=Decimal("90.00"))))
    await world.deliver(envelope(an_order(customer, "300.00", offer_code=code)))
    redeemed = [d for k, d in await world.events_about(customer) if k == "OfferRedeemed"]
    assert [(d["total"], d["margin"]) for d in redeemed] == [("300.00", "90.00")]
    reasons = await world.pool.fetch("select reason from invalid_redemptions order by recorded_at, reason")
    assert sorted(r["reason"] for r in reasons) == ["already_redeemed", "wrong_customer"]


async def test_control_group_share_over_1000_customers(world: World) -> None:
    await world.campaign(control_group_pct=10, budget=None, caps={"per_customer": 1})
    ids = [uuid.uuid4() for _ in range(1000)]
    registrations = [envelope(CustomerRegistered(customer_id=i, registered_at=NOON, consents=Consents(email=True)))
                     for i in ids]
    await world.deliver(*registrations)
    await world.deliver(*[envelope(an_order(str(i))) for i in ids])
    held = await world.pool.fetchval("select count(*) from decisions where outcome = 'held_out'")
    sent = await world.pool.fetchval("select count(*) from decisions where outcome = 'sent'")
    assert held + sent == 1000
    assert 70 <= held <= 130


async def test_a_delayed_trigger_survives_a_restart_and_fires_once(world: World) -> None:
    await world.campaign(trigger={"event_type": "OrderPlaced", "delay": "30 days"},
                         action={"kind": "survey", "survey_kind": "nps", "channels": ["email"], "template": "nps"},
                         objective="survey", budget=None)
    customer = await world.customer()
    await world.deliver(envelope(an_order(customer)))
    assert await fire_due_timers(world.pool, world.engine, now=NOON + timedelta(days=1)) == 0
    # "Restart": a new engine and pool over the same database; the timer lives in PostgreSQL.
    restarted = World(world.pool)
    due = NOON + timedelta(days=30, minutes=1)
    first, second = await fire_due_timers(world.pool, restarted.engine, now=due), \
        await fire_due_timers(world.pool, world.engine, now=due)
    assert (first, second) == (1, 0)
    assert [k for k, _ in await world.events_about(customer)].count("SurveySent") == 1


async def test_service_recovery_hold_and_erased_customers(world: World) -> None:
    await world.campaign()
    customer = await world.customer()
    await world.pool.execute("update customer_replica set open_complaints = '{t-1}' where customer_id = $1", customer)
    await world.deliver(envelope(an_order(customer)))
    reasons = [d["reason"] for k, d in await world.events_about(customer) if k == "MessageSuppressed"]
    assert reasons == ["service_recovery_hold"]


async def test_an_erased_customer_is_forgotten_and_the_erasure_acknowledged_once(world: World) -> None:
    from shared.contracts.customer import CustomerErased
    from shared.shredding import KeyStore

    customer = await world.customer()
    async with world.pool.acquire() as conn:
        await KeyStore().key_for(conn, customer)  # what seals the customer's survey comments
    erasure = envelope(CustomerErased(customer_id=uuid.UUID(customer), erased_at=NOON))
    await world.deliver(erasure)
    await world.deliver(erasure)  # redelivered: still one acknowledgement

    async with world.pool.acquire() as conn:
        assert await KeyStore().existing_key(conn, customer) is None
    acks = [d for k, d in await world.events_about(customer) if k == "CustomerDataErased"]
    assert len(acks) == 1
    assert acks[0]["service"] == "campaigns" and acks[0]["erasure_event_id"] == str(erasure.id)


def imported(event: DomainEvent) -> Envelope:
    """``envelope`` marked as imported history, as the bulk import publishes it."""
    return replace(envelope(event), extra={HISTORY_HEADER: HISTORY_IMPORT})


async def test_a_live_order_after_imported_history_in_the_same_batch_sees_that_history(world: World) -> None:
    """Imported history goes to the replica together (one run per batch); a live event settles it first."""
    await world.campaign()
    customer = uuid.uuid4()
    registered = CustomerRegistered(customer_id=customer, registered_at=NOON - timedelta(days=900), timezone="UTC",
                                    consents=Consents(email=True, sms=True))
    old_order = an_order(str(customer), placed_at=NOON - timedelta(days=800))
    await world.deliver(imported(registered), imported(old_order), envelope(an_order(str(customer))))

    snapshot = await world.pool.fetchrow("select registered, orders_count from customer_replica where customer_id = $1",
                                         str(customer))
    assert snapshot is not None and snapshot["registered"] and snapshot["orders_count"] == 2
    offers = [data for kind, data in await world.events_about(str(customer)) if kind == "OfferSent"]
    assert len(offers) == 1  # for the live order, which knew the imported registration; none for the 2019 one
    assert await world.message_requests(str(customer)) == 1
