"""Service follow-ups end to end: real Kafka, real PostgreSQL, the engine as the real Faust worker.

A resolved complaint (redelivered), a paid refund to a customer who opted out of service follow-ups,
and a delivered order in the customer's quiet hours: one message for the complaint (on
``campaigns.messages`` with ``purpose="service"``, beside a ``ServiceMessageSent`` on
``campaigns.events``), none for the opted-out customer, and the delivery message deferred to the
customer's morning, not dropped. A complaint still open (which holds promotions) does not hold
the service message. The 360 timeline (analytics, fed the records campaigns published)
shows it. The clock is pinned: the engine's at noon UTC, the timers' at the customer's morning.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from services.campaigns.application.engine import fire_due_timers
from services.campaigns.bootstrap import build_app
from shared.consuming.consumer import RawRecord, apply_records, record_for
from shared.contracts.customer import (
    Consents,
    CustomersMerged,
    OrderDelivered,
    OrderReturned,
    ServiceFollowupsChanged,
)
from shared.contracts.ticketing import ComplaintFiled, TicketResolved
from shared.store.db import create_pool
from shared.testing.clock import FixedClock
from shared.testing.kafka import ConsumedRecord
from shared.web import mint_token
from tests.analytics.integration.support import analytics_settings, projector
from tests.analytics.integration.support import api as analytics_api
from tests.analytics.integration.support import token as analytics_token

from .conftest import MakeDatabase
from .kafka_support import NOON, Stage, a_registration, envelope

AUCKLAND_MORNING = datetime(2026, 3, 10, 19, 0, tzinfo=UTC)
"""08:00 on 11 March in Auckland (NZDT, UTC+13), where noon UTC is 01:00: inside quiet hours."""


def a_resolution(customer: str, ticket: uuid.UUID) -> TicketResolved:
    return TicketResolved(customer_id=uuid.UUID(customer), ticket_id=ticket, kind="complaint", priority="high",
                          category="late_delivery", resolution="Courier lost it; we re-shipped at our cost.",
                          time_to_resolve_seconds=3600, transfer_count=0, first_contact_resolution=True,
                          resolved_at=NOON)


def raw(record: ConsumedRecord) -> RawRecord:
    return RawRecord(topic=record.topic, partition=record.partition, offset=record.offset, key=record.key,
                     value=record.raw_value, headers=[(k, v.encode()) for k, v in record.headers.items()])


async def test_customers_are_told_what_was_done_for_them_once_on_a_consented_channel_in_their_send_window(
    stage: Stage, make_database: MakeDatabase
) -> None:
    told, opted_out, asleep = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    ticket, still_open = uuid.uuid4(), uuid.uuid4()
    registrations = [envelope(a_registration(told)),
                     envelope(a_registration(opted_out, consents=Consents(email=True, service_followups=False))),
                     envelope(a_registration(asleep, timezone="Pacific/Auckland", consents=Consents(push=True)))]
    # Two complaints, one resolved: the other still holds promotions (service recovery), not this message.
    complaints = [envelope(ComplaintFiled(customer_id=uuid.UUID(told), ticket_id=t, priority="high", channel="email",
                                          filed_at=NOON - timedelta(hours=2))) for t in (ticket, still_open)]
    resolved = envelope(a_resolution(told, ticket))
    refund = envelope(OrderReturned(customer_id=uuid.UUID(opted_out), order_id=uuid.uuid4(), reason="too big",
                                    refund_amount=Decimal("59.90"), currency="TRY", returned_at=NOON))
    order = uuid.uuid4()
    delivered = envelope(OrderDelivered(customer_id=uuid.UUID(asleep), order_id=order, delivered_at=NOON))
    back_in = envelope(ServiceFollowupsChanged(customer_id=uuid.UUID(opted_out), granted=True, changed_at=NOON,
                                               source="self_service"), time=NOON + timedelta(minutes=1))
    await stage.publish(*registrations)
    await stage.start_engine()
    await stage.until_applied(*registrations)  # customer.events and ticketing.events are not ordered together
    await stage.publish(*complaints, resolved, refund, delivered)
    await stage.until_applied(resolved, refund, delivered)
    await stage.publish(resolved)  # redelivered by the producer's relay after a lost acknowledgement
    await stage.publish(back_in)  # opting back in later does not resend the withheld message
    await stage.until_applied(back_in)
    await stage.stop_engine()

    rows = {r["customer_id"]: dict(r) for r in await stage.pool.fetch("select * from service_messages")}
    assert {c: (r["kind"], r["status"], r["channel"]) for c, r in rows.items()} == {
        told: ("complaint_resolved", "sent", "email"),
        opted_out: ("refund_paid", "withheld", None),
        asleep: ("order_delivered", "deferred", None),
    }
    assert rows[opted_out]["detail"] == "customer opted out of service follow-ups"
    assert rows[asleep]["deferred_until"] == AUCKLAND_MORNING
    assert await stage.pool.fetchval(
        "select service_followups from customer_replica where customer_id = $1", opted_out) is True

    # The customer's morning: the timers send it.
    assert await fire_due_timers(stage.pool, stage.engine, now=AUCKLAND_MORNING - timedelta(seconds=1)) == 0
    assert await fire_due_timers(stage.pool, stage.engine, now=AUCKLAND_MORNING) == 1
    assert await fire_due_timers(stage.pool, stage.engine, now=AUCKLAND_MORNING + timedelta(hours=1)) == 0

    await stage.drain()
    messages = [r.value for r in await stage.message_requests() if r.value.get("purpose") == "service"]
    assert sorted((m["customer_id"], m["template"], m["channel"]) for m in messages) == sorted([
        (told, "service.complaint_resolved", "email"), (asleep, "service.order_delivered", "push")])
    text = next(m["variables"]["text"] for m in messages if m["customer_id"] == told)
    assert text == (f"Your complaint {str(ticket)[:8].upper()} (late delivery) has been resolved. "
                    "Thank you for your patience.")
    assert "Courier" not in text  # the agent's sealed free text never travels in the message
    assert all(m["campaign_id"] is None and m["kind"] == "message" for m in messages)
    assert await stage.pool.fetchval("select cardinality(open_complaints) from customer_replica where customer_id = $1",
                                     told) == 1

    sent = await stage.campaign_events("ServiceMessageSent")
    assert sorted((r.value["customer_id"], r.value["kind"]) for r in sent) == sorted([
        (told, "complaint_resolved"), (asleep, "order_delivered")])
    late = next(r.value for r in sent if r.value["customer_id"] == asleep)
    assert late["deferred_from"] == "2026-03-10T12:00:00Z"

    # The campaigns API lists the customer's follow-ups (what the console's 360 can link to).
    app = build_app(stage.settings, clock=FixedClock(NOON))
    reader = mint_token(stage.settings, "agent", ["campaigns:read"])
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test",
        headers={"Authorization": f"Bearer {reader}"},
    ) as http:
        listed = await http.get(f"/v1/customers/{opted_out}/service-messages")
    assert listed.status_code == 200, listed.text
    assert [(i["kind"], i["status"], i["reason"]) for i in listed.json()["items"]] == [
        ("refund_paid", "withheld", "no_consent")]

    # The 360 timeline: analytics folds campaigns.events; fed exactly what campaigns published.
    settings = analytics_settings(stage.settings, await make_database("analytics"))
    pool = await create_pool(settings.read_model_dsn, min_size=1, max_size=2)
    try:
        records = [record_for(registrations[0], topic="customer.events"),
                   *[raw(r) for r in sent if r.value["customer_id"] == told]]
        assert await apply_records(pool, projector(settings), records) == []
    finally:
        await pool.close()
    async with analytics_api(settings, FixedClock(NOON)) as client:
        timeline = await client.get(f"/v1/customers/{told}/timeline", params={"type": "ServiceMessageSent"},
                                    headers=analytics_token(settings))
    assert timeline.status_code == 200, timeline.text
    items = timeline.json()["items"]
    assert [(i["type"], i["domain"], i["data"]["text"]) for i in items] == [("ServiceMessageSent", "campaigns", text)]


async def test_news_for_a_merged_duplicate_goes_to_the_survivor_with_the_survivors_consent(stage: Stage) -> None:
    survivor, duplicate = str(uuid.uuid4()), str(uuid.uuid4())
    await stage.deliver(envelope(a_registration(survivor, consents=Consents(sms=True))),
                        envelope(a_registration(duplicate, consents=Consents(email=True))))
    await stage.deliver(envelope(CustomersMerged(customer_id=uuid.UUID(survivor), duplicate_id=uuid.UUID(duplicate),
                                                 merged_at=NOON)))
    await stage.deliver(envelope(OrderDelivered(customer_id=uuid.UUID(duplicate), order_id=uuid.uuid4(),
                                                delivered_at=NOON)))
    row = await stage.pool.fetchrow("select customer_id, status, channel from service_messages")
    assert dict(row) == {"customer_id": duplicate, "status": "sent", "channel": "sms"}
    assert await stage.pool.fetchval(
        "select count(*) from outbox where topic = $1 and key = $2", stage.settings.topic("campaigns.messages"),
        survivor.encode()) == 1
