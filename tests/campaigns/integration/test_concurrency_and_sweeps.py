"""Concurrency (timer instances, racing decisions), set-based sweeps and the no-loop rule, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import pytest

from services.campaigns.adapters.readmodel import PostgresReadModel
from services.campaigns.application import surveys
from services.campaigns.application.engine import SWEEP_CHUNK, fire_due_timers, handle_event
from services.campaigns.domain.ready_made import BIRTHDAY_GREETING
from shared.contracts.analytics import ChurnRiskChanged
from shared.contracts.campaigns import NpsCategory, SurveyAnswered, SurveyKind
from shared.events.envelope import new_envelope
from shared.settings import PlatformSettings
from shared.store.db import create_pool
from shared.store.idempotent_commands import run_command
from shared.testing.waiting import eventually

from .kafka_support import NOON, Stage, a_registration, an_order, envelope

MakeDatabase = Callable[..., Awaitable[str]]


@pytest.fixture
async def stage(make_database: MakeDatabase, platform_settings: PlatformSettings) -> AsyncIterator[Stage]:
    opened = await Stage.open(platform_settings, await make_database("campaigns"), pool_size=8)
    try:
        yield opened
    finally:
        await opened.close()


async def registered(stage: Stage, n: int, **overrides: object) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    await stage.deliver(*[envelope(a_registration(c, **overrides)) for c in ids])
    return ids


async def count(stage: Stage, event_type: str) -> int:
    return int(await stage.pool.fetchval("select count(*) from events where event_type = $1", event_type))


async def test_two_timer_instances_at_once_fire_each_timer_once(stage: Stage) -> None:
    await stage.campaign(objective="survey", budget=None, trigger={"event_type": "OrderPlaced", "delay": "30 days"},
                         action={"kind": "survey", "survey_kind": "nps", "channels": ["email"], "template": "nps"})
    ids = await registered(stage, 40)
    await stage.deliver(*[envelope(an_order(c)) for c in ids])
    due = NOON + timedelta(days=30, minutes=1)
    other = Stage(stage.settings, stage.pool).engine  # a second instance: its own engine, the same database
    fired = await asyncio.gather(fire_due_timers(stage.pool, stage.engine, now=due, limit=3),
                                 fire_due_timers(stage.pool, other, now=due, limit=3))
    assert sum(fired) == 40
    assert await fire_due_timers(stage.pool, stage.engine, now=due) == 0
    surveys = await stage.pool.fetch("select customer_id, count(*) as n from surveys group by customer_id")
    assert {r["customer_id"] for r in surveys} == set(ids) and {r["n"] for r in surveys} == {1}
    assert await count(stage, "SurveySent") == 40


async def test_concurrent_triggers_never_overspend_the_budget(stage: Stage) -> None:
    campaign_id = await stage.campaign(budget={"total": "0.50", "cost_per_send": {"email": "0.10"}})
    ids = await registered(stage, 20)
    await asyncio.gather(*[stage.deliver(envelope(an_order(c))) for c in ids])  # 20 transactions racing
    outcomes = dict(await stage.pool.fetch(
        "select coalesce(reason, outcome), count(*) from decisions group by 1"))
    assert outcomes == {"sent": 5, "budget_exhausted": 15}
    assert await stage.pool.fetchval("select spent from campaign_budgets") == Decimal("0.50")
    assert await count(stage, "OfferSent") == 5
    exhausted = await stage.pool.fetchval(
        "select count(*) from events where event_type = 'CampaignBudgetExhausted' and subject = $1", campaign_id)
    assert exhausted == 1


async def test_concurrent_triggers_never_exceed_the_per_customer_cap(stage: Stage) -> None:
    await stage.campaign(caps={"per_customer": 2}, budget=None,
                         action={"kind": "message", "channels": ["email"], "template": "thanks"})
    (customer,) = await registered(stage, 1)
    await asyncio.gather(*[stage.deliver(envelope(an_order(customer))) for _ in range(10)])
    outcomes = dict(await stage.pool.fetch("select coalesce(reason, outcome), count(*) from decisions group by 1"))
    assert outcomes == {"sent": 2, "campaign_cap": 8}
    assert await count(stage, "MessageSent") == 2


async def test_a_timer_waits_for_the_engine_deciding_for_the_same_customer(stage: Stage) -> None:
    # Two campaigns offering the same sku, decided by different transactions at the same moment: a
    # delayed one from its timer, an immediate one from the engine. Only the customer lock is common.
    await stage.campaign(name="a day after the order", trigger={"event_type": "OrderPlaced", "delay": "1 day"})
    await stage.campaign(name="on high churn risk", trigger={"event_type": "ChurnRiskChanged"})
    (customer,) = await registered(stage, 1)
    await stage.deliver(envelope(an_order(customer)))
    due = NOON + timedelta(days=1, minutes=1)
    churn = ChurnRiskChanged(customer_id=uuid.UUID(customer), rule="churn.test", decided_at=due, to_band="high",
                             score=Decimal("0.9"))
    async with stage.pool.acquire() as engine_conn, engine_conn.transaction():
        await handle_event(stage.engine, engine_conn, event_id=str(uuid.uuid4()), event=churn, subject=customer,
                           at=due, now=due)  # the engine's offer, not committed yet
        timer = asyncio.create_task(fire_due_timers(stage.pool, stage.engine, now=due))

        async def timer_blocked_or_done() -> bool:
            waiting = await stage.pool.fetchval(
                "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")
            return timer.done() or waiting > 0

        await eventually(timer_blocked_or_done, message="timer waiting for the customer")
        assert not timer.done(), "the timer decided while the engine held the customer"
    assert await timer == 1
    offers = await stage.pool.fetchval("select count(*) from offers where customer_id = $1", customer)
    reasons = await stage.pool.fetch("select reason from decisions where reason is not null")
    assert (offers, [r["reason"] for r in reasons]) == (1, ["channel_conflict"])


class StatementCounter:
    """Counts the statements a pool's connections send (asyncpg's query logger)."""

    def __init__(self) -> None:
        self.statements = 0

    def __call__(self, record: object) -> None:
        self.statements += 1

    async def attach(self, conn: asyncpg.Connection) -> None:
        conn.add_query_logger(self)


async def test_the_birthday_sweep_is_set_based_and_decides_each_customer_once(stage: Stage) -> None:
    born_today = date(1985, NOON.month, NOON.day)
    ids = await registered(stage, 2 * SWEEP_CHUNK + 500, birth_date=born_today)
    others = await registered(stage, 50, birth_date=date(1985, 1, 1))
    campaign_id = await stage.campaign(BIRTHDAY_GREETING)
    counter = StatementCounter()
    pool = await create_pool(stage.settings.database_url, min_size=1, max_size=1, setup=counter.attach)
    try:
        assert await fire_due_timers(pool, stage.engine, now=NOON) == 1
    finally:
        await pool.close()
    greeted = await stage.pool.fetch("select customer_id from decisions where outcome = 'sent'")
    assert sorted(r["customer_id"] for r in greeted) == sorted(ids)
    assert not set(others) & {r["customer_id"] for r in greeted}
    assert await count(stage, "MessageSent") == len(ids)
    requests = await stage.pool.fetchval("select count(*) from outbox where topic = $1", stage.engine.messages_topic)
    assert requests == len(ids)
    # 2,500 customers in three chunks: a fixed number of statements per chunk, never one per customer.
    assert counter.statements < 60, counter.statements
    # Tomorrow's sweep is scheduled; running today's again (a second timer) decides nobody twice.
    assert await stage.pool.fetchval("select count(*) from timers where fired_at is null") == 1
    await stage.pool.execute("update timers set fired_at = null")
    await fire_due_timers(stage.pool, stage.engine, now=NOON + timedelta(minutes=5))
    assert await stage.decisions(campaign_id) == len(ids)


async def test_customers_born_on_29_february_are_greeted_on_the_28th_outside_leap_years(stage: Stage) -> None:
    (leapling,) = await registered(stage, 1, birth_date=date(2000, 2, 29))
    (ordinary,) = await registered(stage, 1, birth_date=date(2000, 2, 28))
    stage.clock.set(NOON.replace(year=2027, month=2, day=28))
    await stage.campaign(BIRTHDAY_GREETING)
    await fire_due_timers(stage.pool, stage.engine, now=stage.clock.now())
    greeted = await stage.pool.fetch("select customer_id from decisions where outcome = 'sent'")
    assert sorted(r["customer_id"] for r in greeted) == sorted([leapling, ordinary])


async def test_the_inactivity_sweep_decides_once_per_quiet_spell(stage: Stage) -> None:
    campaign_id = await stage.campaign(
        objective="winback", budget=None, trigger={"schedule": "inactivity", "inactivity_days": 60},
        action={"kind": "message", "channels": ["email"], "template": "we-miss-you"}, caps={"per_customer": 5})
    quiet, active = await registered(stage, 2)
    await stage.deliver(envelope(an_order(quiet, placed_at=NOON - timedelta(days=90))),
                        envelope(an_order(active, placed_at=NOON - timedelta(days=10))))
    await fire_due_timers(stage.pool, stage.engine, now=NOON)
    await fire_due_timers(stage.pool, stage.engine, now=NOON + timedelta(days=1))
    rows = await stage.pool.fetch("select customer_id, outcome from decisions where campaign_id = $1",
                                  uuid.UUID(campaign_id))
    assert [(r["customer_id"], r["outcome"]) for r in rows] == [(quiet, "sent")]


async def test_an_answer_never_triggers_the_campaign_whose_survey_it_answers(stage: Stage) -> None:
    follow_up = {"name": "Follow up every answer", "objective": "survey",
                 "trigger": {"event_type": "SurveyAnswered"},
                 "action": {"kind": "survey", "survey_kind": "csat", "channels": ["email"], "template": "csat"},
                 "caps": {"per_customer": 100}}
    own = await stage.campaign(follow_up)
    (customer,) = await registered(stage, 1)

    def answer(campaign_id: str | None) -> SurveyAnswered:
        return SurveyAnswered(survey_id=str(uuid.uuid4()), customer_id=customer, kind=SurveyKind.NPS, score=3,
                              comment=None, nps_category=NpsCategory.DETRACTOR, campaign_id=campaign_id)

    await stage.deliver(new_envelope(answer(own), service="campaigns", subject=customer, time=NOON))
    assert await stage.decisions(own) == 0
    await stage.deliver(new_envelope(answer(None), service="campaigns", subject=customer, time=NOON))
    assert await stage.decisions(own) == 1
    # The follow-up's own SurveySent, read back from campaigns.events, changes nothing either.
    async with stage.pool.acquire() as conn:
        recorded = [e for e in await stage.store.load_subject(conn, customer) if e.event_type == "SurveySent"]
    assert len(recorded) == 1
    await stage.deliver(new_envelope(recorded[0].event, service="campaigns", subject=customer, time=NOON))
    assert await stage.decisions() == 1
    last_detractor = await stage.pool.fetchval(
        "select last_detractor_at from customer_replica where customer_id = $1", customer)
    assert last_detractor == NOON


async def test_a_detractor_answer_given_through_the_api_holds_promotions(stage: Stage) -> None:
    await stage.campaign()
    (customer,) = await registered(stage, 1)
    survey = await run_command(stage.pool, stage.store, lambda uow: surveys.send_survey(
        uow, messages_topic=stage.engine.messages_topic, customer_id=customer, kind=SurveyKind.NPS, ticket_id=None,
        now=NOON), rows_factory=PostgresReadModel)
    await run_command(stage.pool, stage.store, lambda uow: surveys.answer(
        uow, survey_id=str(survey.resource["id"]), token=str(survey.resource["response_token"]), score=2,
        comment=None, now=NOON), rows_factory=PostgresReadModel)
    await stage.deliver(envelope(an_order(customer)))
    reasons = await stage.pool.fetch("select reason from decisions")
    assert [r["reason"] for r in reasons] == ["service_recovery_hold"]
