"""Reactions to the customer domain: keep the replica, reconcile tickets, merge, erase.

Each function runs inside the consumer's transaction (``conn``), so the replica change, the ticket
events it causes and the consumer's inbox record commit together: a redelivered customer event is
never applied twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from services.ticketing.adapters import readmodel, replica
from services.ticketing.application.batches import load_tickets, persist_tickets
from services.ticketing.domain.model import Ticket
from services.ticketing.domain.sla import tier_for
from shared.contracts.customer import AccountManagerAssigned, CustomerRegistered
from shared.errors import ConcurrencyConflict
from shared.privacy.erasure import acknowledge_erasure
from shared.store.eventstore import EventStore


async def change_each(
    conn: asyncpg.Connection,
    store: EventStore,
    ticket_ids: Sequence[UUID],
    now: datetime,
    decide: Callable[[Ticket], bool],
    *,
    attempts: int = 5,
) -> int:
    """Load, decide and save each ticket; returns how many changed.

    An agent's command or the SLA scheduler may append to the same ticket between our load and our
    append. The lost race (``ConcurrencyConflict``) is not a reason to dead-letter the customer event:
    the ticket is reloaded with the other writer's events and decided again, inside a savepoint so the
    rest of the consumer's transaction stands.
    """
    changed = 0
    for ticket_id in ticket_ids:
        for attempt in range(1, attempts + 1):
            [ticket] = await load_tickets(conn, store, [ticket_id])
            if not decide(ticket):
                break
            try:
                async with conn.transaction():
                    await persist_tickets(conn, store, [ticket], now)
            except ConcurrencyConflict:
                if attempt == attempts:
                    raise
                continue
            changed += 1
            break
    return changed


async def customer_registered(conn: asyncpg.Connection, store: EventStore, event: CustomerRegistered,
                              now: datetime) -> int:
    """Remember the customer and confirm their provisional tickets (ADR 0003); returns how many."""
    customer_id, relationship_type = event.customer_id, event.relationship_type
    await replica.hold(conn, customer_id)
    await replica.register(conn, customer_id, relationship_type, event.registered_at)
    rows = await conn.fetch(
        "select id from tickets where customer_id = $1 and not customer_verified and status <> 'closed'", customer_id
    )
    tier = tier_for(relationship_type)
    return await change_each(
        conn, store, [r["id"] for r in rows], now, lambda t: t.verify_customer(customer_tier=tier, now=now)
    )


async def relationship_changed(conn: asyncpg.Connection, *, customer_id: UUID, relationship_type: str) -> None:
    """A new relationship type changes the SLA tier of tickets opened from now on."""
    await replica.set_relationship_type(conn, customer_id, relationship_type)


async def account_manager_assigned(conn: asyncpg.Connection, store: EventStore, event: AccountManagerAssigned,
                                   now: datetime) -> int:
    """Remember the account manager and give them the customer's unowned tickets; returns how many."""
    customer_id, account_manager_id = event.customer_id, event.account_manager_id
    await replica.hold(conn, customer_id)
    await replica.set_account_manager(conn, customer_id, account_manager_id)
    rows = await conn.fetch(
        "select id from tickets where customer_id = $1 and owner_id is null and status = 'open'", customer_id
    )

    def give_to_manager(ticket: Ticket) -> bool:
        if ticket.owner_id is not None or ticket.status != "open":
            return False  # someone took it since the read row was written
        ticket.assign(agent_id=account_manager_id, by=None, now=now, routing="account_manager")
        return True

    return await change_each(conn, store, [r["id"] for r in rows], now, give_to_manager)


async def customers_merged(
    conn: asyncpg.Connection, store: EventStore, *, survivor_id: UUID, duplicate_id: UUID, now: datetime
) -> int:
    """Move the duplicate's unfinished tickets to the survivor; closed ones stay as history.

    A merge proves the duplicate existed, so a provisional ticket (ADR 0003: opened before ticketing
    saw the duplicate's registration, which travels on another partition than the merge) is verified
    with the survivor's tier when the survivor is known; otherwise the survivor's registration does it.
    """
    await replica.mark_merged(conn, duplicate_id, survivor_id)
    survivor = await replica.find(conn, survivor_id)
    known = survivor is not None and survivor.status == "active"
    tier = tier_for(survivor.relationship_type if survivor is not None else None)

    def move(ticket: Ticket) -> bool:
        if not ticket.move_to_customer(survivor_id, now):
            return False
        if known:
            ticket.verify_customer(customer_tier=tier, now=now)
        return True

    ids = await readmodel.tickets_of_customer(conn, duplicate_id, unfinished_only=True)
    return await change_each(conn, store, ids, now, move)


async def customers_unmerged(conn: asyncpg.Connection, *, duplicate_id: UUID) -> None:
    """The duplicate is a customer of its own again; tickets already moved stay with the survivor."""
    await replica.mark_unmerged(conn, duplicate_id)


async def customer_erased(
    conn: asyncpg.Connection,
    store: EventStore,
    *,
    customer_id: UUID,
    now: datetime,
    erasure_event_id: UUID | None = None,
) -> int:
    """Right to be forgotten: drop the read side's free text and destroy the keys of the event store.

    Duplicates merged into the customer are the same person, so their keys go too. Anonymous facts
    (times, counts, priorities, root causes) stay for the KPIs. Once all that is done, in the same
    transaction, ticketing acknowledges with ``CustomerDataErased`` on ``ticketing.events``: the
    acknowledgement commits exactly when the cleaning does. Returns how many tickets changed.
    """
    await replica.hold(conn, customer_id)  # a ticket being opened for them commits first, or sees them erased
    people = await replica.mark_erased(conn, customer_id)
    changed = await readmodel.erase_personal_text(conn, people)
    answers = await readmodel.forget_stored_answers(conn, people)
    for person in people:
        await store.keys.destroy(conn, str(person))
    await acknowledge_erasure(store, conn, customer_id=customer_id, service="ticketing", erased_at=now,
                              erasure_event_id=erasure_event_id,
                              details={"tickets_redacted": changed, "stored_answers_redacted": answers,
                                       "keys_destroyed": len(people)})
    return changed
