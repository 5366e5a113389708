"""A minimal event-sourced aggregate base: decide by raising events, evolve by applying them.

Why so small: the domain layer must stay pure Python that a unit test drives without I/O. An
aggregate's command methods check rules against current state and call ``_record(event)``; the same
``_apply`` that evolves state on record is used to rehydrate from history, so there is exactly one
place where each event changes state. Handlers are looked up by event type name: a method named
``_on_OrderPlaced`` handles ``OrderPlaced``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from shared.events.catalog import DomainEvent


class Aggregate:
    """Base for aggregates. ``version`` is the number of events applied (0 for a new one)."""

    def __init__(self) -> None:
        self.version = 0
        self._pending: list[DomainEvent] = []
        self._initial_state()

    @classmethod
    def rehydrate(cls, history: Iterable[DomainEvent]) -> Self:
        """Rebuild an aggregate from its stored events (oldest first)."""
        aggregate = cls.__new__(cls)
        Aggregate.__init__(aggregate)
        for event in history:
            aggregate._apply(event)
            aggregate.version += 1
        return aggregate

    def _initial_state(self) -> None:
        """Set attributes to their empty values; called before any event is applied."""

    def _record(self, event: DomainEvent) -> None:
        self._apply(event)
        self._pending.append(event)

    def _apply(self, event: DomainEvent) -> None:
        handler = getattr(self, f"_on_{event.event_type}", None)
        if handler is not None:
            handler(event)

    @property
    def expected_version(self) -> int:
        """The version the store must still be at for ``pending`` events to be appended."""
        return self.version

    @property
    def pending(self) -> list[DomainEvent]:
        return list(self._pending)

    def pull_events(self) -> list[DomainEvent]:
        """Take the events recorded since load; the aggregate's version moves past them."""
        events, self._pending = self._pending, []
        self.version += len(events)
        return events
