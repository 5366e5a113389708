"""In-memory ports for unit tests of command handlers: no database, same rules.

``FakeWork`` is a ``shared.store.ports.Work``: streams kept in a dict, appended with the same
optimistic-concurrency rule as the PostgreSQL event store (``ConcurrencyConflict`` when the expected
version is not the stream's head), and a service's in-memory read model as ``rows``. Tests then
assert on the handler's outcome and on ``appended`` (the events in the order they were written).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from typing_extensions import Unpack

from shared.errors import ConcurrencyConflict
from shared.events.catalog import DomainEvent
from shared.ids import uuid7
from shared.store.eventstore import AppendArgs, RecordedEvent

RowsT = TypeVar("RowsT")

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""When fake events are recorded unless the test says otherwise (never the wall clock)."""


@dataclass
class InMemoryEventLog:
    """A service's event streams in memory, with the event store's concurrency rule."""

    streams: dict[str, list[RecordedEvent]] = field(default_factory=dict)
    appended: list[RecordedEvent] = field(default_factory=list)
    """Every event appended through this log, in order (what a test asserts on)."""
    recorded_at: datetime = EPOCH

    async def load(self, stream_id: str) -> list[RecordedEvent]:
        return list(self.streams.get(stream_id, ()))

    async def load_sealed(self, stream_ids: Sequence[str]) -> dict[str, list[DomainEvent]]:
        """As the event store: the streams that have events, by id (nothing is encrypted in memory)."""
        return {s: [r.event for r in self.streams[s]] for s in stream_ids if self.streams.get(s)}

    async def append(self, **append: Unpack[AppendArgs]) -> list[RecordedEvent]:
        stream_id, expected_version = append["stream_id"], append["expected_version"]
        stream = self.streams.setdefault(stream_id, [])
        if expected_version != len(stream):
            raise ConcurrencyConflict(
                f"stream {stream_id} is at version {len(stream)}, not {expected_version}",
                expected_version=expected_version,
                current_version=len(stream),
            )
        metadata = append.get("metadata")
        recorded = [
            RecordedEvent(
                position=len(self.appended) + offset + 1,
                event_id=uuid7(),
                stream_id=stream_id,
                stream_type=append["stream_type"],
                version=expected_version + offset + 1,
                event=event,
                subject=append["subject"],
                occurred_at=append.get("occurred_at") or self.recorded_at,
                recorded_at=self.recorded_at,
                metadata=metadata.as_dict() if metadata else {},
            )
            for offset, event in enumerate(append["events"])
        ]
        stream.extend(recorded)
        self.appended.extend(recorded)
        return recorded

    def seed(self, stream_id: str, stream_type: str, events: Iterable[DomainEvent], *, subject: str = "") -> None:
        """Put a history in place before the handler runs (not counted in ``appended``)."""
        stream = self.streams.setdefault(stream_id, [])
        for event in events:
            stream.append(RecordedEvent(
                position=0, event_id=uuid7(), stream_id=stream_id, stream_type=stream_type,
                version=len(stream) + 1, event=event, subject=subject or stream_id,
                occurred_at=self.recorded_at, recorded_at=self.recorded_at,
            ))

    def events(self, stream_id: str | None = None) -> list[DomainEvent]:
        """The appended events (of one stream, when named), without their envelope."""
        return [r.event for r in self.appended if stream_id is None or r.stream_id == stream_id]


@dataclass
class FakeWork(InMemoryEventLog, Generic[RowsT]):
    """An in-memory unit of work: the event log above plus a service's in-memory read model."""

    fake_rows: RowsT | None = None

    @property
    def rows(self) -> RowsT:
        if self.fake_rows is None:
            raise RuntimeError("FakeWork(fake_rows=...) is needed by a handler that reads or writes its read model")
        return self.fake_rows
