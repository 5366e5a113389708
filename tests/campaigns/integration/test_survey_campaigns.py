"""Survey campaigns on the engine against real PostgreSQL, the clock pinned: relationship NPS at most once
per period and never during an open complaint; transactional NPS after a delivered order or resolved ticket."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from services.campaigns.adapters.readmodel import PostgresReadModel
from services.campaigns.application import handlers
from services.campaigns.application.engine import fire_due_timers
from services.campaigns.domain.ready_made import NPS_AFTER_DELIVERY, RELATIONSHIP_NPS, SURVEY_PROGRAMS
from shared.contracts.customer import OrderDelivered
from shared.contracts.ticketing import ComplaintFiled, TicketResolved
from shared.errors import InvalidInput
from shared.store.db import create_pool
from shared.store.idempotent_commands import run_command
from shared.store.outcomes import Created

from .test_engine import NOON, World, an_order, envelope

pytestmark = pytest.mark.clock


@pytest.fixture
async def world(make_database: Callable[..., Awaitable[str]]) -> AsyncIterator[World]:
    pool = await create_pool(await make_database("campaigns"), min_size=1, max_size=4)
    try:
        yield World(pool)
    finally:
        await pool.close()


async def surveys_of(world: World, customer: str) -> list[dict[str, Any]]:
    return [d for kind, d in await world.events_about(customer) if kind == "SurveySent"]


async def suppressions_of(world: World, customer: str) -> list[str]:
    return [d["detail"] for kind, d in await world.events_about(customer) if kind == "MessageSuppressed"]


async def test_the_relationship_sweep_asks_each_customer_once_per_period_and_not_during_a_complaint(
    world: World,
) -> None:
    asked, complaining, fresh = await world.customer(), await world.customer(), await world.customer()
    ticket = uuid.uuid4()
    await world.deliver(envelope(ComplaintFiled(customer_id=uuid.UUID(complaining), ticket_id=ticket,
                                                channel="email", filed_at=NOON - timedelta(days=1))))
    await world.campaign(**RELATIONSHIP_NPS)
    assert await fire_due_timers(world.pool, world.engine, now=NOON) == 1
    first = await surveys_of(world, asked)
    assert len(first) == 1 and len(await surveys_of(world, fresh)) == 1
    assert first[0]["purpose"] == "relationship"
    assert [q["id"] for q in first[0]["questions"]] == ["score", "reason"]
    assert await surveys_of(world, complaining) == []
    assert await suppressions_of(world, complaining) == []  # not due: no decision at all, every day

    # the following days: nobody is asked again within 90 days
    for day in (1, 2, 89):
        await fire_due_timers(world.pool, world.engine, now=NOON + timedelta(days=day))
    assert len(await surveys_of(world, asked)) == 1

    # the complaint is resolved: the next sweep asks that customer
    await world.deliver(envelope(TicketResolved(customer_id=uuid.UUID(complaining), ticket_id=ticket,
                                                kind="complaint", priority="normal", time_to_resolve_seconds=60,
                                                transfer_count=0, first_contact_resolution=True,
                                                resolved_at=NOON + timedelta(days=89, hours=1))))
    await fire_due_timers(world.pool, world.engine, now=NOON + timedelta(days=90))
    assert len(await surveys_of(world, complaining)) == 1
    # 90 days after the first ask, the others are asked again, once
    assert len(await surveys_of(world, asked)) == 2
    await fire_due_timers(world.pool, world.engine, now=NOON + timedelta(days=91))
    assert len(await surveys_of(world, asked)) == 2


async def test_an_event_triggered_relationship_survey_is_suppressed_within_the_period_or_during_a_complaint(
    world: World,
) -> None:
    customer = await world.customer()
    await world.campaign(name="rNPS after an order", objective="survey", budget=None,
                         trigger={"event_type": "OrderPlaced"}, caps={"per_customer": 100},
                         action={"kind": "survey", "survey_kind": "nps", "channels": ["email"], "template": "nps",
                                 "survey": {"purpose": "relationship", "period_days": 30}})
    await world.deliver(envelope(an_order(customer)))
    assert len(await surveys_of(world, customer)) == 1
    await world.deliver(envelope(an_order(customer)))  # same moment: within 30 days
    assert len(await surveys_of(world, customer)) == 1
    details = await suppressions_of(world, customer)
    assert len(details) == 1 and details[0].startswith("relationship survey already sent within 30 days")
    reasons = [d["reason"] for kind, d in await world.events_about(customer) if kind == "MessageSuppressed"]
    assert reasons == ["frequency_cap"]

    other = await world.customer()
    await world.pool.execute("update customer_replica set open_complaints = '{t-1}' where customer_id = $1", other)
    await world.deliver(envelope(an_order(other)))
    assert await surveys_of(world, other) == []
    assert [d["reason"] for kind, d in await world.events_about(other) if kind == "MessageSuppressed"] == [
        "service_recovery_hold"]


async def test_a_transactional_nps_follows_a_delivered_order_and_names_it(world: World) -> None:
    customer = await world.customer()
    await world.campaign(**NPS_AFTER_DELIVERY)
    order_id = uuid.uuid4()
    await world.deliver(envelope(OrderDelivered(customer_id=uuid.UUID(customer), order_id=order_id,
                                                delivered_at=NOON)))
    (sent,) = await surveys_of(world, customer)
    assert (sent["purpose"], sent["order_id"]) == ("transactional", str(order_id))
    assert [q["id"] for q in sent["questions"]] == ["score", "reason", "delivery"]
    row = await world.pool.fetchrow("select purpose, order_id, questions from surveys where customer_id = $1",
                                    customer)
    assert (row["purpose"], row["order_id"], len(row["questions"])) == ("transactional", str(order_id), 3)


@pytest.mark.parametrize(("document", "field"), [
    ({**NPS_AFTER_DELIVERY, "trigger": {"event_type": "OrderPlaced"}}, "trigger.event_type"),
    ({**RELATIONSHIP_NPS, "action": {**RELATIONSHIP_NPS["action"], "survey": {"purpose": "transactional"}}},
     "trigger.event_type"),
    ({**RELATIONSHIP_NPS, "action": {**RELATIONSHIP_NPS["action"], "survey": None}}, "action.survey.purpose"),
    ({**NPS_AFTER_DELIVERY, "action": {**NPS_AFTER_DELIVERY["action"], "kind": "message"}}, "action.survey"),
    ({**NPS_AFTER_DELIVERY, "action": {**NPS_AFTER_DELIVERY["action"], "survey": {
        "purpose": "transactional", "questions": [{"id": "reason", "kind": "csat", "prompt": "?"}]}}},
     "action.survey.questions.0.id"),
])
async def test_a_survey_campaign_that_cannot_work_is_refused(world: World, document: dict[str, Any],
                                                             field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await run_command(world.pool, world.store, lambda uow: handlers.create_campaign(uow, document=document),
                          rows_factory=PostgresReadModel)
    assert refused.value.extra["field"] == field
    assert await world.pool.fetchval("select count(*) from campaigns") == 0


@pytest.mark.parametrize("key", sorted(SURVEY_PROGRAMS))
async def test_every_survey_program_is_a_valid_campaign(world: World, key: str) -> None:
    created = await run_command(world.pool, world.store,
                                lambda uow: handlers.create_campaign(uow, document=SURVEY_PROGRAMS[key]),
                                rows_factory=PostgresReadModel)
    assert isinstance(created, Created)
