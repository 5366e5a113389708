"""Thin SQL for erasure with proof: the ``erasure_status`` table and forgetting stored answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.store.idempotent_commands import blank_stored_answers

PERSONAL_ANSWER_FIELDS = ("name", "email", "phone", "birth_date", "address")
"""Personal fields of a customer body (``CustomerRead``) that a stored idempotent answer may hold."""


async def record_requested(
    conn: asyncpg.Connection,
    customer_id: UUID,
    *,
    done: Mapping[str, Mapping[str, int]],
    pending: Iterable[str],
    now: datetime,
) -> None:
    """Start the erasure's ledger: the services in ``done`` finished now, the others are pending."""
    services = [*done, *(name for name in pending if name not in done)]
    await conn.execute(
        """insert into erasure_status (customer_id, service, status, requested_at, finished_at, details)
           select $1, s.service, case when s.finished then 'done' else 'pending' end, $2,
                  case when s.finished then $2::timestamptz end, s.details
           from unnest($3::text[], $4::bool[], $5::jsonb[]) as s(service, finished, details)
           on conflict (customer_id, service) do nothing""",
        customer_id,
        now,
        services,
        [name in done for name in services],
        [dict(done.get(name, {})) for name in services],
    )


async def record_acknowledgement(
    conn: asyncpg.Connection,
    *,
    customer_id: UUID,
    service: str,
    finished_at: datetime,
    details: Mapping[str, int],
    ack_event_id: UUID,
) -> None:
    """Mark ``service`` done for this customer (an acknowledgement never turns back to pending)."""
    await conn.execute(
        """insert into erasure_status
               (customer_id, service, status, requested_at, finished_at, details, ack_event_id)
           values ($1, $2, 'done', $3, $3, $4, $5)
           on conflict (customer_id, service) do update set status = 'done',
               finished_at = excluded.finished_at, details = excluded.details, ack_event_id = excluded.ack_event_id
           where erasure_status.status = 'pending'""",
        customer_id,
        service,
        finished_at,
        dict(details),
        ack_event_id,
    )


async def forget_stored_answers(conn: asyncpg.Connection, customer_id: UUID) -> int:
    """Blank the personal fields of idempotent answers that describe the customer; returns how many.

    ``Idempotency-Key`` answers are stored so a retry can be replayed, and the answer to a
    registration, an update or a merge is the customer's profile: without this, the erased name,
    email and phone would outlive the erasure in ``idempotency_keys``. The rows stay (a retry still
    replays, now without the personal fields), so a retried registration cannot create the person again.
    """
    return await blank_stored_answers(conn, about="id", ids=[customer_id], holding="email",
                                      fields=PERSONAL_ANSWER_FIELDS)

