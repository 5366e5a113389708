"""The engine as a real Faust worker: real events in on the real topics, decisions and message requests out."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date, timedelta

import httpx
import orjson
import pytest
from fastapi import FastAPI

from services.campaigns.adapters.readmodel import PostgresReadModel
from services.campaigns.application import surveys
from services.campaigns.application.engine import fire_due_timers
from services.campaigns.domain.ready_made import BIRTHDAY_GREETING, SERVICE_RECOVERY_AFTER_DETRACTOR_ANSWER
from shared.contracts.campaigns import SurveyKind
from shared.events.envelope import Envelope, source_for
from shared.privacy.keyaccess import RemoteKeyProvider, ServiceToken, keys_router
from shared.settings import ServiceSettings
from shared.shredding import KeyStore, encrypt_fields
from shared.store.db import create_pool
from shared.store.idempotent_commands import run_command
from shared.testing.waiting import eventually
from shared.web import create_service_app

from .kafka_support import NOON, Stage, a_registration, an_order, envelope

MakeDatabase = Callable[..., Awaitable[str]]


def customers(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


async def test_a_redelivered_order_sends_one_offer_and_one_message_request(stage: Stage) -> None:
    campaign_id = await stage.campaign(caps={"per_customer": 5})
    (customer,) = customers(1)
    order = envelope(an_order(customer))
    await stage.publish(envelope(a_registration(customer)), order, order)
    await stage.start_engine()
    await stage.until_applied(order)
    await stage.publish(order)  # once more, after it was applied: Kafka redelivering after a rebalance
    marker = envelope(a_registration(customers(1)[0]))
    await stage.publish(marker)
    await stage.until_applied(marker)
    await stage.stop_engine()

    assert await stage.decisions(campaign_id) == 1
    await stage.drain()
    offers = await stage.campaign_events("OfferSent")
    assert [(r.key.decode() if r.key else None, r.value["campaign_id"]) for r in offers] == [(customer, campaign_id)]
    requests = await stage.message_requests()
    assert len(requests) == 1
    assert requests[0].value["variables"]["offer_code"] == offers[0].value["offer_code"]
    assert requests[0].headers["ce_subject"] == customer


@pytest.mark.timeout(300)
async def test_the_control_group_share_over_1000_customers_on_the_topics(stage: Stage) -> None:
    campaign_id = await stage.campaign(control_group_pct=10, budget=None)
    ids = customers(1000)
    await stage.publish(*[envelope(a_registration(c, consents={"email": True})) for c in ids])
    await stage.publish(*[envelope(an_order(c)) for c in ids])
    await stage.start_engine()
    await eventually(lambda: stage.decisions(campaign_id), until=lambda n: n == 1000, timeout=180,
                     message="1000 decisions")
    await stage.stop_engine()

    await stage.drain()
    held = await stage.campaign_events("HeldOut")
    sent = await stage.campaign_events("OfferSent")
    assert len(held) + len(sent) == 1000
    assert 70 <= len(held) <= 130  # 10 % ± 3 points
    assert {r.value["customer_id"] for r in held}.isdisjoint({r.value["customer_id"] for r in sent})
    requests = await stage.message_requests()
    assert sorted(r.value["customer_id"] for r in requests) == sorted(r.value["customer_id"] for r in sent)


async def test_channel_integration_blocks_a_second_offer_for_the_same_product_on_the_topics(stage: Stage) -> None:
    first = await stage.campaign(name="deposit by email")
    second = await stage.campaign(name="deposit by sms", action={
        "kind": "offer", "channels": ["sms"], "template": "deposit-sms",
        "offer": {"sku": "DEPOSIT-12M", "discount_pct": 5}})
    (customer,) = customers(1)
    order = envelope(an_order(customer))
    await stage.publish(envelope(a_registration(customer)), order)
    await stage.start_engine()
    await stage.until_applied(order)
    await stage.stop_engine()

    await stage.drain()
    offers = await stage.campaign_events("OfferSent")
    suppressed = await stage.campaign_events("MessageSuppressed")
    assert len(offers) == 1 and offers[0].value["sku"] == "DEPOSIT-12M"
    assert [r.value["reason"] for r in suppressed] == ["channel_conflict"]
    assert {offers[0].value["campaign_id"], suppressed[0].value["campaign_id"]} == {first, second}
    assert len(await stage.message_requests()) == 1


async def test_a_restart_between_scheduling_and_due_time_still_sends_once(stage: Stage) -> None:
    campaign_id = await stage.campaign(
        objective="survey", budget=None, trigger={"event_type": "OrderPlaced", "delay": "30 days"},
        action={"kind": "survey", "survey_kind": "nps", "channels": ["email"], "template": "nps"})
    (customer,) = customers(1)
    order = envelope(an_order(customer))
    await stage.publish(envelope(a_registration(customer)), order)
    await stage.start_engine()
    await stage.until_applied(order)
    assert await stage.pool.fetchval("select count(*) from timers where kind = 'campaign_trigger'") == 1
    await stage.stop_engine()

    # A new worker of the same group: the order comes again (redelivery), the timer is in PostgreSQL.
    await stage.start_engine()
    marker = envelope(a_registration(customers(1)[0]))
    await stage.publish(order, marker)
    await stage.until_applied(marker)
    assert await fire_due_timers(stage.pool, stage.engine, now=NOON + timedelta(days=29)) == 0
    due = NOON + timedelta(days=30, minutes=1)
    assert await fire_due_timers(stage.pool, stage.engine, now=due) == 1
    assert await fire_due_timers(stage.pool, stage.engine, now=due + timedelta(days=1)) == 0
    await stage.stop_engine()

    assert await stage.decisions(campaign_id) == 1
    await stage.drain()
    surveys = await stage.campaign_events("SurveySent")
    assert [(r.value["customer_id"], r.value["kind"]) for r in surveys] == [(customer, "nps")]
    requests = await stage.message_requests()
    assert [(r.value["customer_id"], r.value["template"]) for r in requests] == [(customer, "nps")]


async def test_a_detractor_answer_triggers_service_recovery_once_and_its_offer_triggers_nothing(
    stage: Stage,
) -> None:
    recovery = await stage.campaign(SERVICE_RECOVERY_AFTER_DETRACTOR_ANSWER)
    unhappy, happy = customers(2)
    registrations = [envelope(a_registration(c)) for c in (unhappy, happy)]
    await stage.publish(*registrations)
    await stage.start_engine()
    await stage.until_applied(*registrations)
    for customer, score in ((unhappy, 3), (happy, 10)):
        survey = await run_command(stage.pool, stage.store, lambda uow, c=customer: surveys.send_survey(
            uow, messages_topic=stage.engine.messages_topic, customer_id=c, kind=SurveyKind.NPS, ticket_id=None,
            now=NOON), rows_factory=PostgresReadModel)
        await run_command(stage.pool, stage.store, lambda uow, s=survey, n=score: surveys.answer(
            uow, survey_id=str(s.resource["id"]), token=str(s.resource["response_token"]), score=n, comment="meh",
            now=NOON), rows_factory=PostgresReadModel)
    await stage.drain()  # SurveyAnswered reaches campaigns.events, which the engine consumes too
    await eventually(lambda: stage.decisions(recovery), until=lambda n: n == 1, timeout=60,
                     message="service recovery decided")
    await stage.drain()  # the voucher's OfferSent goes out on campaigns.events and comes back to the engine
    offer_id = await stage.pool.fetchval("select event_id from events where event_type = 'OfferSent'")
    await eventually(lambda: stage.applied(offer_id), timeout=60, message="engine read its own OfferSent")
    await stage.stop_engine()

    assert await stage.decisions() == 1
    offers = await stage.campaign_events("OfferSent")
    assert [(r.value["customer_id"], r.value["template"], r.value["campaign_id"]) for r in offers] == [
        (unhappy, "apology-voucher", recovery)]
    answered = await stage.campaign_events("SurveyAnswered")
    assert sorted(r.value["nps_category"] for r in answered) == ["detractor", "promoter"]
    requests = await stage.message_requests()
    assert sorted(r.value["kind"] for r in requests) == ["offer", "survey", "survey"]


def customer_service_app(dsn: str) -> FastAPI:
    """A stand-in for the customer service's key endpoint, over a database holding its data keys."""

    class CustomerLikeSettings(ServiceSettings):
        service_name = "customer"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(dsn, min_size=1, max_size=2)
        yield
        await app.state.pool.close()

    return create_service_app(settings=CustomerLikeSettings(environment="test", database_url=dsn),
                              title="customer keys", description="keys", version="1", routers=[keys_router()],
                              lifespan=lifespan, readiness={})


def sealed(item: Envelope, key: bytes, *fields: str) -> Envelope:
    """The envelope as the customer service publishes it: personal fields encrypted under the key."""
    data = encrypt_fields(orjson.loads(item.data), fields, key, item.subject)
    return replace(item, data=orjson.dumps(data))


async def test_the_birthday_campaign_greets_from_the_sealed_birth_date(
    stage: Stage, make_database: MakeDatabase
) -> None:
    customer_db = await make_database(None)
    keys_app = customer_service_app(customer_db)
    birthday, erased = customers(2)
    async with keys_app.router.lifespan_context(keys_app):
        store = KeyStore()
        async with keys_app.state.pool.acquire() as conn:
            key_of = {c: await store.key_for(conn, c) for c in (birthday, erased)}
            await store.destroy(conn, erased)  # erased before the engine read it: its birth date stays closed
        born = date(1990, NOON.month, NOON.day)
        registrations = [sealed(envelope(a_registration(c, birth_date=born, name="Ada")), key, "birth_date", "name")
                         for c, key in key_of.items() if key is not None]
        assert len(registrations) == 2 and b"1990" not in registrations[0].data
        provider = RemoteKeyProvider(base_urls={source_for("customer"): "http://customer"},
                                     token=ServiceToken(stage.settings, "service:campaigns"),
                                     transport=httpx.ASGITransport(app=keys_app))
        await stage.publish(*registrations)
        await stage.start_engine(keys=provider)
        try:
            await stage.until_applied(*registrations)
        finally:
            await stage.stop_engine()
            await provider.close()

    birthdays = dict(await stage.pool.fetch("select customer_id, birthday from customer_replica"))
    assert birthdays == {birthday: born, erased: None}
    campaign_id = await stage.campaign(BIRTHDAY_GREETING)  # activation schedules today's sweep
    assert await fire_due_timers(stage.pool, stage.engine, now=NOON) == 1
    assert await fire_due_timers(stage.pool, stage.engine, now=NOON + timedelta(hours=1)) == 0
    assert await stage.decisions(campaign_id) == 1

    await stage.drain()
    greetings = await stage.campaign_events("MessageSent")
    assert [(r.value["customer_id"], r.value["template"]) for r in greetings] == [(birthday, "happy-birthday")]
    requests = await stage.message_requests()
    assert [(r.value["customer_id"], r.value["template"]) for r in requests] == [(birthday, "happy-birthday")]
