"""Time-driven work: SLA breaches and tickets whose customer never appeared.

Exactly once, even with several scheduler instances: candidates are claimed with
``for update skip locked`` (instances split the work instead of racing for it), and the event
store's optimistic concurrency is the final guard: a ticket whose stream moved since it was loaded
(another instance, or an agent's command) fails its append, is skipped inside its own savepoint,
and is looked at again on the next tick with the fresh history. A breach is therefore recorded by
exactly one transaction, and ``SlaBreached`` is published exactly once through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from services.ticketing.adapters import readmodel
from services.ticketing.application.batches import append_pending, load_tickets
from services.ticketing.domain.model import Ticket
from shared.clock import Clock
from shared.errors import ConcurrencyConflict
from shared.store.eventstore import EventStore
from shared.store.periodic import run_every
from shared.store.uow import UnitOfWork

log = logging.getLogger(__name__)

_DUE_FOR_BREACH = """
select id from tickets
where queue_due <= $1 and status not in ('waiting_customer', 'resolved', 'closed')
order by queue_due
limit $2
for update skip locked
"""

_UNKNOWN_CUSTOMER = """
select t.id from tickets t
where not t.customer_verified and t.status <> 'closed' and t.opened_at <= $1
  and not exists (select 1 from customer_replica c where c.customer_id = t.customer_id)
order by t.opened_at
limit $2
for update of t skip locked
"""


async def emit_sla_breaches(pool: asyncpg.Pool, store: EventStore, now: datetime, *, batch_size: int = 200) -> int:
    """Record every SLA breach due at ``now`` (SlaBreached + TicketEscalated); returns how many."""
    return await _sweep(pool, store, _DUE_FOR_BREACH, now, now, batch_size, lambda t: t.record_sla_breaches(now))


async def close_tickets_of_unknown_customers(
    pool: asyncpg.Pool, store: EventStore, now: datetime, *, grace: timedelta, batch_size: int = 200
) -> int:
    """Close provisional tickets whose customer did not appear within ``grace`` (ADR 0003)."""
    return await _sweep(
        pool, store, _UNKNOWN_CUSTOMER, now - grace, now, batch_size, lambda t: int(t.close_for_unknown_customer(now))
    )


async def _sweep(
    pool: asyncpg.Pool,
    store: EventStore,
    query: str,
    threshold: datetime,
    now: datetime,
    batch_size: int,
    decide: Callable[[Ticket], int],
) -> int:
    total = 0
    while True:
        async with UnitOfWork(pool, store) as uow:
            ids = [r["id"] for r in await uow.conn.fetch(query, threshold, batch_size)]
            if not ids:
                return total
            kept: list[Ticket] = []
            for ticket in await load_tickets(uow.conn, store, ids):
                count = decide(ticket)
                try:
                    async with uow.conn.transaction():  # a savepoint: one lost race skips one ticket
                        await append_pending(uow.conn, store, ticket, now)
                except ConcurrencyConflict:
                    log.info("ticket %s changed concurrently; it is looked at again next tick", ticket.id)
                    continue
                kept.append(ticket)
                total += count
            # Every claimed ticket gets its queue position refreshed, so none is claimed forever.
            await readmodel.save_tickets(uow.conn, kept)
        if len(ids) < batch_size:
            return total


async def run_scheduler(
    pool: asyncpg.Pool,
    store: EventStore,
    clock: Clock,
    stop: asyncio.Event,
    *,
    interval_seconds: float,
    unverified_grace: timedelta,
) -> None:
    """Sweep SLA breaches and unknown customers' tickets every ``interval_seconds`` until ``stop``."""

    async def tick() -> None:
        now = clock.now()
        breaches = await emit_sla_breaches(pool, store, now)
        closed = await close_tickets_of_unknown_customers(pool, store, now, grace=unverified_grace)
        if breaches or closed:
            log.info("scheduler tick", extra={"sla_breaches": breaches, "closed_unknown_customer": closed})

    await run_every(interval_seconds, tick, stop, job="ticketing scheduler tick")
