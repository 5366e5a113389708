"""Analytics forgets an erased customer, even when their other events arrive late, and says so once."""

from __future__ import annotations

import uuid

from services.analytics.bootstrap import event_store
from services.analytics.consumers.projector import AnalyticsProjector
from shared.consuming.consumer import apply_records
from shared.contracts.customer import CustomersMerged
from shared.testing.clock import FixedClock
from tests.analytics.builders import at, erased, fact, new_customer_id, registered, ticket_opened
from tests.analytics.integration.support import api, records, token


async def test_late_events_of_an_erased_customer_keep_no_personal_data_and_one_ack_is_sent(settings, pool) -> None:
    projector = AnalyticsProjector(rules=settings.rules, store=event_store(settings))
    cid = new_customer_id()
    erasure = records([registered(cid, at(0)), erased(cid, at(2))])
    assert await apply_records(pool, projector, erasure) == []
    late = records([ticket_opened(cid, str(uuid.uuid4()), at(1))])  # ticketing.events lagged behind
    assert await apply_records(pool, projector, late) == []
    assert await apply_records(pool, projector, erasure) == []  # redelivered: no second ack

    subjects = await pool.fetch(
        "select data->>'subject' as subject from customer_events where event_type = 'TicketOpened'"
    )
    assert [r["subject"] for r in subjects] == [None]
    acks = await pool.fetch(
        "select data from public.events where event_type = 'CustomerDataErased' and subject = $1", cid
    )
    assert len(acks) == 1
    assert acks[0]["data"]["service"] == "analytics"


async def test_erasing_a_merged_duplicate_forgets_its_data_and_leaves_the_survivor_alone(settings, pool) -> None:
    projector = AnalyticsProjector(rules=settings.rules, store=event_store(settings))
    survivor, duplicate = new_customer_id(), new_customer_id()
    own_ticket, their_ticket, late_ticket = (str(uuid.uuid4()) for _ in range(3))
    history = [
        registered(survivor, at(0), name="Survivor Person", email="s@example.com"),
        ticket_opened(survivor, own_ticket, at(1)),
        registered(duplicate, at(0, 1), name="Duplicate Person", email="d@example.com"),
        ticket_opened(duplicate, their_ticket, at(1, 1)),
    ]
    merge = fact(CustomersMerged(customer_id=survivor, duplicate_id=duplicate, merged_at=at(2)), at(2))
    assert await apply_records(pool, projector, records([*history, merge])) == []
    assert await apply_records(pool, projector, records([erased(duplicate, at(3))])) == []
    # the duplicate's ticket arrives late, from a lagging ticketing topic
    assert await apply_records(pool, projector, records([ticket_opened(duplicate, late_ticket, at(2, 5))])) == []

    async with api(settings, FixedClock(at(10))) as client:
        view = (await client.get(f"/v1/customers/{survivor}/360", headers=token(settings))).json()
        timeline = (await client.get(f"/v1/customers/{survivor}/timeline", headers=token(settings))).json()
    assert view["status"] == "active"
    assert (view["profile"]["name"], view["profile"]["email"]) == ("Survivor Person", "s@example.com")
    subjects = {t["ticket_id"]: t["subject"] for t in view["service"]["open"]}
    assert subjects == {own_ticket: "Late delivery", their_ticket: None, late_ticket: None}
    registrations = {i["customer_id"]: i["data"]["name"] for i in timeline["items"]
                     if i["type"] == "CustomerRegistered"}
    assert registrations == {survivor: "Survivor Person", duplicate: None}
    opened = {i["data"]["ticket_id"]: i["data"]["subject"] for i in timeline["items"] if i["type"] == "TicketOpened"}
    assert opened == {own_ticket: "Late delivery", their_ticket: None, late_ticket: None}
    stored = await pool.fetchval("select state::text from customer_views where customer_id = $1", survivor)
    assert "Duplicate Person" not in stored and "d@example.com" not in stored
    acks = await pool.fetchval(
        "select count(*) from public.events where event_type = 'CustomerDataErased' and subject = $1", duplicate
    )
    assert acks == 1
