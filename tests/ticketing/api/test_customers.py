"""The customer replica (ADR 0003), merges and erasure, through the consumer kit and the API."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from uuid import UUID

from services.ticketing.application import handlers
from services.ticketing.application.scheduler import close_tickets_of_unknown_customers
from services.ticketing.bootstrap import run_customer_replica
from services.ticketing.consumers.customers import CustomerReplicaProjector
from shared.contracts.customer import (
    AccountManagerAssigned,
    CustomerErased,
    CustomerProfileUpdated,
    CustomerRegistered,
    CustomersMerged,
    CustomersUnmerged,
)
from shared.events.envelope import to_kafka
from shared.ids import new_id
from shared.settings import PlatformSettings
from shared.store.uow import UnitOfWork
from shared.testing.kafka import make_producer
from shared.testing.waiting import eventually
from tests.ticketing.api.conftest import START, TicketingService, sealed_customer_envelopes


async def test_a_ticket_for_an_unseen_customer_is_provisional_and_verified_when_they_register(
    ticketing: TicketingService,
) -> None:
    newcomer = str(new_id())
    ticket = await ticketing.open(customer_id=newcomer, agent_id="agent-ayse")
    assert ticket["customer_verified"] is False
    opened = (await ticketing.outbox(ticket["id"]))[0]["data"]
    assert opened["customer_verified"] is False

    await ticketing.customer_events(
        CustomerRegistered(
            customer_id=UUID(newcomer),
            relationship_type="dedicated_assistance",
            registered_at=START,
            name="Ayse Yilmaz",
            email="ayse@example.com",
            birth_date=date(1990, 5, 17),
        )
    )
    view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=ticketing.staff)).json()
    assert (view["customer_verified"], view["customer_tier"]) == (True, "dedicated_assistance")
    assert (await ticketing.types(ticket["id"]))[-1] == "TicketCustomerVerified"
    grace_over = ticketing.clock.advance(timedelta(days=3))
    closed = await close_tickets_of_unknown_customers(
        ticketing.pool, ticketing.store, grace_over, grace=ticketing.settings.unverified_grace
    )
    assert closed == 0


async def test_a_registration_arriving_while_the_ticket_is_being_opened_still_verifies_it(
    ticketing: TicketingService,
) -> None:
    """The ticket reads 'unknown customer' and the registration looks for provisional tickets before
    either commits: one waits for the other, or the ticket stays provisional for good (seen in CI)."""
    customer = new_id()
    command = handlers.OpenTicket(customer_id=customer, kind="complaint", channel="phone", subject="Kettle leaks",
                                  description="It leaks")
    async with UnitOfWork(ticketing.pool, ticketing.store, ticketing.app.state.rows_factory) as uow:
        opened = await handlers.open_ticket(uow, command=command, policy=ticketing.app.state.policy, now=START)
        registration = asyncio.create_task(ticketing.customer_events(
            CustomerRegistered(customer_id=customer, relationship_type="dedicated_assistance", registered_at=START)))

        async def registration_done_or_waiting() -> bool:
            return registration.done() or await ticketing.someone_waits_on_a_lock()

        await eventually(registration_done_or_waiting, message="the registration to finish or wait for the ticket")
    await registration
    view = (await ticketing.client.get(f"/v1/tickets/{opened.resource['id']}", headers=ticketing.staff)).json()
    assert (view["customer_verified"], view["customer_tier"]) == (True, "dedicated_assistance")


async def test_a_ticket_whose_customer_never_appears_is_closed_after_the_grace_window(
    ticketing: TicketingService,
) -> None:
    ticket = await ticketing.open(customer_id=str(new_id()), agent_id="agent-ayse")
    known = await ticketing.open(agent_id="agent-ayse")
    grace = ticketing.settings.unverified_grace
    early = ticketing.clock.advance(grace - timedelta(minutes=1))
    assert await close_tickets_of_unknown_customers(ticketing.pool, ticketing.store, early, grace=grace) == 0
    late = ticketing.clock.advance(timedelta(minutes=2))
    assert await close_tickets_of_unknown_customers(ticketing.pool, ticketing.store, late, grace=grace) == 1
    view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=ticketing.staff)).json()
    assert view["status"] == "closed"
    closed = (await ticketing.outbox(ticket["id"]))[-1]
    assert (closed["type"], closed["data"]["reason"]) == ("TicketClosed", "customer_unknown")
    assert (await ticketing.types(known["id"]))[-1] != "TicketClosed"


async def test_an_erased_customer_gets_no_new_ticket(ticketing: TicketingService) -> None:
    customer_id = await ticketing.a_known_customer()
    await ticketing.customer_events(CustomerErased(customer_id=UUID(customer_id), erased_at=START))
    response = await ticketing.client.post(
        "/v1/tickets",
        json={"customer_id": customer_id, "kind": "question", "channel": "web", "subject": "s", "description": "d"},
        headers=ticketing.staff,
    )
    assert response.status_code == 410


async def test_a_merge_moves_the_duplicates_open_tickets_and_routes_new_ones_to_the_survivor(
    ticketing: TicketingService,
) -> None:
    survivor, duplicate = await ticketing.a_known_customer(), await ticketing.a_known_customer()
    open_ticket = await ticketing.open(customer_id=duplicate, agent_id="agent-ayse")
    done = await ticketing.open(customer_id=duplicate, agent_id="agent-ayse")
    await ticketing.act(done["id"], "resolve", {"resolution": "ok"})
    await ticketing.act(done["id"], "close")

    await ticketing.customer_events(
        CustomersMerged(customer_id=UUID(survivor), duplicate_id=UUID(duplicate), merged_at=START)
    )
    moved = (await ticketing.client.get(f"/v1/tickets/{open_ticket['id']}", headers=ticketing.staff)).json()
    assert moved["customer_id"] == survivor
    event = (await ticketing.outbox(open_ticket["id"]))[-1]
    assert (event["type"], event["key"], event["data"]["previous_customer_id"]) == (
        "TicketCustomerChanged",
        survivor,
        duplicate,
    )
    kept = (await ticketing.client.get(f"/v1/tickets/{done['id']}", headers=ticketing.staff)).json()
    assert kept["customer_id"] == duplicate, "closed tickets stay as history"
    new = await ticketing.open(customer_id=duplicate)
    assert new["customer_id"] == survivor


async def test_erasure_removes_personal_text_and_keeps_the_anonymous_facts(ticketing: TicketingService) -> None:
    customer_id = await ticketing.a_known_customer()
    ticket = await ticketing.open(customer_id=customer_id, kind="complaint", agent_id="agent-ayse")
    await ticketing.act(ticket["id"], "comments", {"body": "My address is Bağdat Cd. 5", "visibility": "public"})
    await ticketing.act(ticket["id"], "resolve", {"resolution": "Refund to IBAN TR12", "root_cause": "billing_error"})

    await ticketing.customer_events(CustomerErased(customer_id=UUID(customer_id), erased_at=START))

    view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=ticketing.staff)).json()
    assert (view["subject"], view["description"], view["resolution"]) == (None, None, None)
    assert (view["root_cause"], view["status"], view["kind"]) == ("billing_error", "resolved", "complaint")
    comment = next(h for h in view["history"] if h["type"] == "TicketCommented")
    assert comment["data"]["body"] is None
    resolved = next(h for h in view["history"] if h["type"] == "TicketResolved")
    assert resolved["data"]["resolution"] is None and resolved["data"]["transfer_count"] == 0
    key = await ticketing.pool.fetchrow(
        "select key, destroyed_at from personal_data_keys where subject = $1", customer_id
    )
    assert key["key"] is None and key["destroyed_at"] is not None


async def test_a_new_account_manager_takes_the_customers_unowned_tickets(ticketing: TicketingService) -> None:
    customer_id = await ticketing.a_known_customer()
    unowned = await ticketing.open(customer_id=customer_id)
    owned = await ticketing.open(customer_id=customer_id, agent_id="agent-ayse")
    await ticketing.customer_events(
        AccountManagerAssigned(customer_id=UUID(customer_id), account_manager_id="am-kemal", assigned_at=START)
    )
    view = (await ticketing.client.get(f"/v1/tickets/{unowned['id']}", headers=ticketing.staff)).json()
    assert (view["owner_id"], view["status"]) == ("am-kemal", "in_progress")
    still = (await ticketing.client.get(f"/v1/tickets/{owned['id']}", headers=ticketing.staff)).json()
    assert still["owner_id"] == "agent-ayse"


async def test_a_redelivered_customer_event_is_applied_once(ticketing: TicketingService) -> None:
    from services.ticketing.consumers.customers import CustomerReplicaProjector
    from shared.consuming.consumer import apply_records, record_for
    from shared.events.envelope import new_envelope

    survivor, duplicate = await ticketing.a_known_customer(), await ticketing.a_known_customer()
    ticket = await ticketing.open(customer_id=duplicate, agent_id="agent-ayse")
    envelope = new_envelope(
        CustomersMerged(customer_id=UUID(survivor), duplicate_id=UUID(duplicate), merged_at=START),
        service="customer",
        subject=survivor,
    )
    projector = CustomerReplicaProjector(ticketing.store, ticketing.clock)
    for _ in range(2):
        assert await apply_records(ticketing.pool, projector, [record_for(envelope)]) == []
    assert (await ticketing.types(ticket["id"])).count("TicketCustomerChanged") == 1


async def test_text_written_after_the_erasure_never_reaches_the_read_side_or_the_log(
    ticketing: TicketingService,
) -> None:
    customer_id = await ticketing.a_known_customer()
    ticket = await ticketing.open(customer_id=customer_id, agent_id="agent-ayse")
    await ticketing.customer_events(CustomerErased(customer_id=UUID(customer_id), erased_at=START))

    commented = await ticketing.act(ticket["id"], "comments", {"body": "Call me on 0532 000", "visibility": "public"})
    assert commented.status_code == 201, commented.text
    resolved = await ticketing.act(ticket["id"], "resolve", {"resolution": "Refund to IBAN TR99"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolution"] is None
    row = await ticketing.pool.fetchrow(
        "select subject, description, resolution from tickets where id = $1", UUID(ticket["id"])
    )
    assert tuple(row) == (None, None, None)
    stored = await ticketing.pool.fetch(
        "select data::text as data from events"
        " where stream_id = $1 and event_type in ('TicketCommented', 'TicketResolved')",
        ticket["id"],
    )
    assert len(stored) == 2
    assert all("0532" not in r["data"] and "TR99" not in r["data"] for r in stored)


async def test_a_duplicate_merged_into_an_erased_survivor_gets_no_new_ticket(ticketing: TicketingService) -> None:
    survivor, duplicate = await ticketing.a_known_customer(), await ticketing.a_known_customer()
    await ticketing.customer_events(
        CustomersMerged(customer_id=UUID(survivor), duplicate_id=UUID(duplicate), merged_at=START),
        CustomerErased(customer_id=UUID(survivor), erased_at=START),
    )
    response = await ticketing.client.post(
        "/v1/tickets",
        json={"customer_id": duplicate, "kind": "question", "channel": "web", "subject": "s", "description": "d"},
        headers=ticketing.staff,
    )
    assert response.status_code == 410, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await ticketing.pool.fetchval("select count(*) from tickets") == 0


async def test_a_merge_chain_routes_a_new_ticket_to_the_last_survivor(ticketing: TicketingService) -> None:
    ids = [await ticketing.a_known_customer() for _ in range(3)]
    await ticketing.customer_events(
        CustomersMerged(customer_id=UUID(ids[1]), duplicate_id=UUID(ids[0]), merged_at=START),
        CustomersMerged(customer_id=UUID(ids[2]), duplicate_id=UUID(ids[1]), merged_at=START),
    )
    ticket = await ticketing.open(customer_id=ids[0])
    assert ticket["customer_id"] == ids[2]


async def test_a_provisional_ticket_moved_by_a_merge_is_verified_by_the_known_survivor(
    ticketing: TicketingService,
) -> None:
    survivor = await ticketing.a_known_customer("dedicated_assistance")
    duplicate = str(new_id())  # its registration travels on another partition and has not arrived yet
    ticket = await ticketing.open(customer_id=duplicate, agent_id="agent-ayse")
    assert ticket["customer_verified"] is False

    await ticketing.customer_events(
        CustomersMerged(customer_id=UUID(survivor), duplicate_id=UUID(duplicate), merged_at=START)
    )
    view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=ticketing.staff)).json()
    assert (view["customer_id"], view["customer_verified"], view["customer_tier"]) == (
        survivor,
        True,
        "dedicated_assistance",
    )
    assert (await ticketing.types(ticket["id"]))[-2:] == ["TicketCustomerChanged", "TicketCustomerVerified"]
    grace = ticketing.settings.unverified_grace
    later = ticketing.clock.advance(grace + timedelta(hours=1))
    assert await close_tickets_of_unknown_customers(ticketing.pool, ticketing.store, later, grace=grace) == 0


async def test_the_customer_replica_worker_consumes_customer_events_from_kafka(
    ticketing: TicketingService, platform_topics_created: PlatformSettings
) -> None:
    """``c360 worker ticketing customer-replica`` as deployed: a Faust consumer on the real topic."""
    newcomer, erased = str(new_id()), await ticketing.a_known_customer()
    provisional = await ticketing.open(customer_id=newcomer)
    assert (provisional["customer_verified"], provisional["owner_id"]) == (False, None)
    to_forget = await ticketing.open(customer_id=erased, agent_id="agent-ayse")
    envelopes = sealed_customer_envelopes(
        CustomerRegistered(
            customer_id=UUID(newcomer),
            relationship_type="dedicated_assistance",
            registered_at=START,
            name="Ayse Yilmaz",
            birth_date=date(1990, 5, 17),
        ),
        AccountManagerAssigned(customer_id=UUID(newcomer), account_manager_id="am-kemal", assigned_at=START),
        CustomerErased(customer_id=UUID(erased), erased_at=START),
    )

    def publish() -> None:
        producer = make_producer(platform_topics_created.kafka_bootstrap_servers)
        try:
            for envelope in envelopes:
                key, value, headers = to_kafka(envelope)
                producer.send(platform_topics_created.topic("customer.events"), key=key, value=value, headers=headers)
            producer.flush(30)
        finally:
            producer.close(10)

    await asyncio.to_thread(publish)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_customer_replica(ticketing.settings, stop))
    try:

        async def state() -> tuple[object, ...]:
            row = await ticketing.pool.fetchrow(
                "select customer_verified, customer_tier, owner_id from tickets where id = $1", UUID(provisional["id"])
            )
            gone = await ticketing.pool.fetchval("select description from tickets where id = $1", UUID(to_forget["id"]))
            return (*row, gone)

        await eventually(
            state,
            until=lambda s: s == (True, "dedicated_assistance", "am-kemal", None),
            timeout=60,
            message="customer events applied from Kafka",
        )
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=60)
    assert await ticketing.types(provisional["id"]) == ["TicketOpened", "TicketCustomerVerified", "TicketAssigned"]
    assigned = (await ticketing.outbox(provisional["id"]))[-1]["data"]
    assert (assigned["agent_id"], assigned["routing"]) == ("am-kemal", "account_manager")
    inbox = await ticketing.pool.fetchval(
        "select count(*) from inbox where consumer = $1 and event_id = any($2::uuid[])",
        CustomerReplicaProjector.name,
        [e.id for e in envelopes],
    )
    assert inbox == len(envelopes), "each Kafka record applied once, through the inbox"


async def test_a_new_relationship_type_sets_the_tier_of_tickets_opened_from_then_on(
    ticketing: TicketingService,
) -> None:
    customer_id = await ticketing.a_known_customer("transactional")
    before = await ticketing.open(customer_id=customer_id, priority="urgent")
    await ticketing.customer_events(
        CustomerProfileUpdated(
            customer_id=UUID(customer_id),
            changed_fields=["relationship_type"],
            relationship_type="dedicated_assistance",
            updated_at=START,
        )
    )
    after = await ticketing.open(customer_id=customer_id, priority="urgent")
    assert (before["customer_tier"], after["customer_tier"]) == ("standard", "dedicated_assistance")
    assert after["first_response_due"] == "2026-03-02T09:30:00Z"
    untouched = (await ticketing.client.get(f"/v1/tickets/{before['id']}", headers=ticketing.staff)).json()
    assert untouched["first_response_due"] == "2026-03-02T10:00:00Z", "due times are never recomputed"
    # Only the fields an update names carry meaning.
    await ticketing.customer_events(
        CustomerProfileUpdated(
            customer_id=UUID(customer_id), changed_fields=["name"], relationship_type="community", updated_at=START
        )
    )
    assert (await ticketing.open(customer_id=customer_id))["customer_tier"] == "dedicated_assistance"


async def test_after_an_unmerge_the_duplicate_gets_its_own_tickets_again(ticketing: TicketingService) -> None:
    survivor, duplicate = await ticketing.a_known_customer(), await ticketing.a_known_customer()
    await ticketing.customer_events(
        CustomersMerged(customer_id=UUID(survivor), duplicate_id=UUID(duplicate), merged_at=START)
    )
    assert (await ticketing.open(customer_id=duplicate))["customer_id"] == survivor
    await ticketing.customer_events(
        CustomersUnmerged(customer_id=UUID(survivor), duplicate_id=UUID(duplicate), unmerged_at=START)
    )
    assert (await ticketing.open(customer_id=duplicate))["customer_id"] == duplicate


async def test_erasing_a_survivor_also_shreds_the_history_kept_under_its_merged_duplicate(
    ticketing: TicketingService,
) -> None:
    survivor, duplicate = await ticketing.a_known_customer(), await ticketing.a_known_customer()
    old = await ticketing.open(customer_id=duplicate, agent_id="agent-ayse", subject="My old address")
    await ticketing.act(old["id"], "comments", {"body": "Flat 3, Moda", "visibility": "public"})
    await ticketing.act(old["id"], "resolve", {"resolution": "Sent to Moda"})
    await ticketing.act(old["id"], "close")
    await ticketing.customer_events(
        CustomersMerged(customer_id=UUID(survivor), duplicate_id=UUID(duplicate), merged_at=START),
        CustomerErased(customer_id=UUID(survivor), erased_at=START),
    )
    view = (await ticketing.client.get(f"/v1/tickets/{old['id']}", headers=ticketing.staff)).json()
    assert view["customer_id"] == duplicate, "closed history stayed with the duplicate"
    assert (view["subject"], view["description"], view["resolution"]) == (None, None, None)
    assert [h["data"]["body"] for h in view["history"] if h["type"] == "TicketCommented"] == [None]
    destroyed = await ticketing.pool.fetch(
        "select subject from personal_data_keys where key is null and destroyed_at is not null"
    )
    assert {r["subject"] for r in destroyed} == {survivor, duplicate}
    assert (view["kind"], view["status"], view["transfer_count"]) == ("question", "closed", 0)


async def test_a_merge_that_races_an_agents_command_moves_the_ticket_instead_of_dead_lettering(
    ticketing: TicketingService,
) -> None:
    survivor, duplicate = await ticketing.a_known_customer(), await ticketing.a_known_customer()
    ticket = await ticketing.open(customer_id=duplicate, agent_id="agent-ayse")
    # The agent's note is appended (not yet committed) when the merge reaches the ticket.
    async with ticketing.agent_note_in_flight(ticket, at=START) as commit:
        merge = asyncio.create_task(
            ticketing.customer_events(
                CustomersMerged(customer_id=UUID(survivor), duplicate_id=UUID(duplicate), merged_at=START)
            )
        )
        await eventually(ticketing.someone_waits_on_a_lock, message="the merge waits on the agent's append")
        await commit()
        await merge  # asserts nothing was dead-lettered
    assert await ticketing.types(ticket["id"]) == [
        "TicketOpened",
        "TicketAssigned",
        "TicketCommented",
        "TicketCustomerChanged",
    ]
    view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=ticketing.staff)).json()
    assert (view["customer_id"], view["version"]) == (survivor, 4)


async def test_provisional_tickets_can_be_listed_apart(ticketing: TicketingService) -> None:
    provisional = await ticketing.open(customer_id=str(new_id()))
    known = await ticketing.open()
    unverified = (await ticketing.client.get("/v1/tickets?customer_verified=false", headers=ticketing.staff)).json()
    verified = (await ticketing.client.get("/v1/tickets?customer_verified=true", headers=ticketing.staff)).json()
    assert [t["id"] for t in unverified["items"]] == [provisional["id"]]
    assert [t["id"] for t in verified["items"]] == [known["id"]]
    bad = await ticketing.client.get("/v1/tickets?customer_verified=maybe", headers=ticketing.staff)
    assert bad.status_code == 422
