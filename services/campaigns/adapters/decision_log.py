"""Appending the events of many decisions at once, through the event store's batch append.

Why not ``EventStore.append`` in a loop: a sweep (birthdays, inactivity) decides for thousands of
customers in one go, and every decision is its own stream (``decision-<campaign>-<customer>-<trigger>``)
keyed by its customer. One append per stream would be one round trip per customer;
``EventStore.append_streams`` writes all of them with one statement and ``append``'s guarantees.

Each decision stream continues from its head as read in the same transaction: the caller holds the
campaign and customer locks, so no other writer moves it, and ``unique (stream_id, version)`` would
still turn one that did into ``ConcurrencyConflict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from shared.events.catalog import DomainEvent
from shared.store.eventstore import EventStore, StreamEvents


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """Events to add at the end of one stream, about one subject (the Kafka key)."""

    stream_id: str
    subject: str
    events: Sequence[DomainEvent]


async def append_to_streams(
    conn: asyncpg.Connection, store: EventStore, *, stream_type: str, appends: Sequence[StreamAppend]
) -> int:
    """Append every stream's events in the caller's transaction; returns how many events were written."""
    return await store.append_streams(
        conn, [StreamEvents(a.stream_id, stream_type, a.subject, None, a.events) for a in appends]
    )
