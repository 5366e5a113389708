"""Thin SQL for the notes and follow-ups read models (``customer_notes``, ``follow_ups``).

Written in the unit of work, in the same transaction as the events, like every customer read model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from services.customer.domain.notes import FollowUp, Note
from shared.store.idempotent_commands import blank_stored_answers


async def insert_note(conn: asyncpg.Connection, note: Note) -> None:
    await conn.execute(
        "insert into customer_notes (id, customer_id, text, author, written_at) values ($1, $2, $3, $4, $5)",
        note.id,
        note.customer_id,
        note.text,
        note.author,
        note.written_at,
    )


async def save_follow_up(conn: asyncpg.Connection, follow_up: FollowUp, *, by: str, now: datetime) -> None:
    """Write the follow-up's current state (``by`` and ``now`` are its scheduling when it is new)."""
    await conn.execute(
        """insert into follow_ups (id, customer_id, note_id, owner, state, due_at, scheduled_by, scheduled_at,
                                   updated_at, version)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
           on conflict (id) do update set state = excluded.state, due_at = excluded.due_at,
               updated_at = excluded.updated_at, version = excluded.version""",
        follow_up.id,
        follow_up.customer_id,
        follow_up.note_id,
        follow_up.owner,
        follow_up.state,
        follow_up.due_at,
        by,
        now,
        follow_up.version,
    )


async def follow_up_customer(conn: asyncpg.Connection, follow_up_id: UUID) -> UUID | None:
    """The customer a follow-up is about, or ``None`` when there is no such follow-up."""
    found: UUID | None = await conn.fetchval("select customer_id from follow_ups where id = $1", follow_up_id)
    return found


async def forget(conn: asyncpg.Connection, customer_ids: Sequence[UUID]) -> int:
    """Delete the notes on these customers (erasure); returns how many.

    The answers stored for ``Idempotency-Key`` retries of ``POST .../notes`` hold the text too: it is
    blanked there as well, so the text outlives the erasure nowhere but in the sealed event log.
    """
    result = await conn.execute("delete from customer_notes where customer_id = any($1::uuid[])", list(customer_ids))
    await blank_stored_answers(conn, about="customer_id", ids=customer_ids, holding="text", fields=("text",))
    return int(result.split()[-1])
