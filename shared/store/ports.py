"""The ports a command handler works through, so it runs against PostgreSQL or in memory alike.

A handler receives a ``Work``: the event log of its service (load a stream, append to it with an
expected version) and its service's read model (``rows``: the reads and writes of that service's
own tables), both bound to one transaction. ``shared.store.uow.UnitOfWork`` is the PostgreSQL
implementation; ``shared.testing.fakes.FakeWork`` the in-memory one for unit tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from typing_extensions import Unpack

from shared.events.catalog import DomainEvent
from shared.store.eventstore import AppendArgs, RecordedEvent

RowsT_co = TypeVar("RowsT_co", covariant=True)


class EventLog(Protocol):
    """A service's event streams, inside the command's transaction."""

    async def load(self, stream_id: str) -> list[RecordedEvent]:
        """The stream's events in version order (empty for a stream that does not exist yet)."""
        ...

    async def load_sealed(self, stream_ids: Sequence[str]) -> dict[str, list[DomainEvent]]:
        """Several streams' events at once, personal fields left sealed (for decisions on times and flags)."""
        ...

    async def append(self, **append: Unpack[AppendArgs]) -> list[RecordedEvent]:
        """Append after ``expected_version`` (``ConcurrencyConflict`` when another writer got there first)."""
        ...


class Work(EventLog, Protocol[RowsT_co]):
    """What a command handler works with: the event log and the service's read model, in one transaction."""

    @property
    def rows(self) -> RowsT_co:
        """The service's read-model port, bound to the same transaction as the events."""
        ...
