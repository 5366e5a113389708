"""Append the signals of a whole batch to analytics' event store and outbox in ONE statement.

``EventStore.append`` writes one stream per call; a projector batch touches thousands of customers
(one signal stream each), so per-stream appends would cost a round trip per customer.
``EventStore.append_streams`` writes the same rows (events with their stream versions, plus the
outbox rows the relay publishes) for every stream at once. Optimistic concurrency holds: the
expected versions come from the views loaded in the same transaction, and a stream that moved
makes the batch a ``ConcurrencyConflict``.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.store.eventstore import EventStore, StreamEvents

SignalAppend = StreamEvents
"""One customer's new signals: ``(stream_id, stream_type, subject, expected_version, events, history)``."""


async def append_signals(
    conn: asyncpg.Connection, appends: Sequence[SignalAppend], *, service: str, topic: str | None
) -> None:
    """Append every stream's new events (and queue them for Kafka) in one round trip."""
    await EventStore(service=service, topic=topic).append_streams(conn, appends)
