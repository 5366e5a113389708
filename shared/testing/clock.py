"""A clock that only moves when a test tells it to (a ``shared.clock.Clock``).

Schedulers, SLA clocks and quiet hours take a ``Clock``; a test hands them this one and moves time
forward instead of waiting for it, so it passes at any hour of any day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FixedClock:
    """A clock that only moves when told to (tests, simulations, SLA back-testing)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment
