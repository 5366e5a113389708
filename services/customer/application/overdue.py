"""The overdue-payment scheduler: ``PaymentOverdue`` exactly once per invoice unpaid past its due date.

Exactly once, even with several scheduler instances running: each batch locks the invoices it
reports with ``for update skip locked`` (another instance skips them instead of waiting) and marks
them ``overdue_at`` in the same transaction as the events, so a committed report is never repeated
and a rolled-back one is retried on the next tick. Payments lock the same invoice row first, so a
payment and an overdue report never decide on one invoice at the same time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import asyncpg

from services.customer.adapters import readmodel
from services.customer.domain.model import Invoice
from shared.clock import Clock
from shared.contracts.customer import PaymentOverdue
from shared.store.eventstore import EventStore
from shared.store.periodic import run_every
from shared.store.uow import UnitOfWork

log = logging.getLogger(__name__)

BATCH_SIZE = 200


async def emit_overdue_payments(pool: asyncpg.Pool, store: EventStore, now: datetime) -> int:
    """Report every invoice unpaid past its due date as of ``now``; return how many were reported."""
    total = 0
    while True:
        scanned, reported = await _one_batch(pool, store, now)
        total += reported
        if scanned < BATCH_SIZE:
            return total


async def _one_batch(pool: asyncpg.Pool, store: EventStore, now: datetime) -> tuple[int, int]:
    async with UnitOfWork(pool, store) as uow:
        rows = await uow.conn.fetch(
            """select id from invoices
               where overdue_at is null and paid < amount and due_date < $1::date
               order by due_date, id limit $2
               for update skip locked""",
            now.date(),
            BATCH_SIZE,
        )
        if not rows:
            return 0, 0
        reports: list[tuple[PaymentOverdue, int]] = []
        for row in rows:
            stream_id = str(row["id"])
            # A load per invoice: the event store has no multi-stream read yet (see the report).
            invoice = Invoice.rehydrate(e.event for e in await store.load(uow.conn, stream_id))
            if not invoice.check_overdue(now=now):
                continue
            expected = invoice.expected_version
            events = invoice.pull_events()
            await uow.append(
                stream_id=stream_id,
                stream_type="invoice",
                expected_version=expected,
                events=events,
                subject=str(invoice.customer_id),
                occurred_at=now,
            )
            overdue = events[0]
            assert isinstance(overdue, PaymentOverdue)
            reports.append((overdue, expected + 1))
        if reports:
            await readmodel.mark_invoices_overdue(uow.conn, reports)
        return len(rows), len(reports)


async def run_overdue_scheduler(
    pool: asyncpg.Pool, store: EventStore, clock: Clock, stop: asyncio.Event, *, interval_seconds: float
) -> None:
    """Call ``emit_overdue_payments`` every ``interval_seconds`` until ``stop`` is set."""

    async def tick() -> None:
        reported = await emit_overdue_payments(pool, store, clock.now())
        if reported:
            log.info("reported overdue invoices", extra={"count": reported})

    await run_every(interval_seconds, tick, stop, job="overdue scan")
