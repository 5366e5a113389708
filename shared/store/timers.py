"""Durable timers: delayed work that survives restarts and fires exactly once (table ``timers``).

A timer's id derives from its kind and a caller's key, so scheduling the same thing twice (a
redelivered event) keeps one timer. Firing takes due timers with ``for update skip locked``, so
several instances share the work without firing one twice, and marks them fired in the caller's
transaction: a crash before the commit fires them again rather than never.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

TimerSpec = tuple[str, datetime, str, dict[str, Any]]
"""``(kind, due_at, key, payload)`` of a durable timer."""


@dataclass(frozen=True, slots=True)
class DueTimer:
    id: uuid.UUID
    kind: str
    payload: dict[str, Any]


def timer_id(namespace: uuid.UUID, kind: str, key: str) -> uuid.UUID:
    """The id of the timer of ``kind`` for ``key`` (the same every time it is scheduled)."""
    return uuid.uuid5(namespace, f"{kind}:{key}")


async def schedule_timers(conn: asyncpg.Connection, namespace: uuid.UUID, timers: Sequence[TimerSpec]) -> None:
    """Many timers in one statement; one already scheduled (same kind and key) is kept as it is."""
    if not timers:
        return
    await conn.execute(
        """insert into timers (id, kind, due_at, payload)
           select t.id, t.kind, t.due_at, t.payload::jsonb
           from unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[]) as t(id, kind, due_at, payload)
           on conflict (id) do nothing""",
        [timer_id(namespace, kind, key) for kind, _, key, _ in timers],
        [kind for kind, _, _, _ in timers],
        [due for _, due, _, _ in timers],
        [orjson.dumps(payload).decode() for _, _, _, payload in timers],
    )


async def take_due_timers(conn: asyncpg.Connection, now: datetime, limit: int) -> list[DueTimer]:
    """Up to ``limit`` timers due at ``now``, oldest first, locked for this transaction (others skip them)."""
    rows = await conn.fetch(
        """select id, kind, payload from timers where fired_at is null and due_at <= $1
           order by due_at limit $2 for update skip locked""",
        now,
        limit,
    )
    return [DueTimer(r["id"], r["kind"], r["payload"]) for r in rows]


async def mark_fired(conn: asyncpg.Connection, timers: Sequence[DueTimer], now: datetime) -> None:
    """Record that ``timers`` fired, in the transaction of what they caused."""
    if timers:
        await conn.execute("update timers set fired_at = $2 where id = any($1::uuid[])", [t.id for t in timers], now)
