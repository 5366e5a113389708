"""SLA policies and the SLA clock: pure Python, driven by the times the caller passes in.

The clock never reads the wall clock. The aggregate, the scheduler and the back-testing simulator
all hand it explicit moments, so a unit test moves time by passing a later ``datetime`` and the
simulator replays recorded history through exactly the code that decides breaches in production.

Targets are business time on the ticket's calendar (``domain/calendar.py``): "4 business hours"
counts only the desk's working hours in its time zone, skipping nights, weekends and holidays. The
default calendar is open 24/7, where business time is plain wall-clock time, as it was before
calendars existed. Time spent waiting on the customer does not count: pausing the clock and resuming
it moves every unmet due time by the *business* time the pause covered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from services.ticketing.domain.calendar import ALWAYS_OPEN, BusinessCalendar

SlaTarget = Literal["first_response", "resolution"]
PRIORITIES = ("low", "normal", "high", "urgent")
STANDARD_TIER = "standard"
DEDICATED_TIER = "dedicated_assistance"

# Relationship types (customer contracts) whose customers get the tighter SLA tier.
_DEDICATED_RELATIONSHIPS = frozenset({"dedicated_assistance", "personal_assistance"})


def tier_for(relationship_type: str | None) -> str:
    """The SLA tier of a customer from their relationship type (seed 002)."""
    return DEDICATED_TIER if relationship_type in _DEDICATED_RELATIONSHIPS else STANDARD_TIER


@dataclass(frozen=True, slots=True)
class SlaTargets:
    """How long until the first public reply and until resolution."""

    first_response: timedelta
    resolution: timedelta

    def __post_init__(self) -> None:
        if self.first_response <= timedelta(0) or self.resolution <= timedelta(0):
            raise ValueError("SLA targets must be positive")
        if self.first_response > self.resolution:
            raise ValueError("the first-response target cannot be longer than the resolution target")


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Targets by ``(tier, priority)``; a tier without its own row falls back to ``standard``."""

    targets: Mapping[tuple[str, str], SlaTargets]

    def targets_for(self, priority: str, tier: str = STANDARD_TIER) -> SlaTargets:
        """The targets for a ticket of this priority and customer tier."""
        found = self.targets.get((tier, priority)) or self.targets.get((STANDARD_TIER, priority))
        if found is None:
            raise ValueError(f"the SLA policy has no targets for priority {priority!r}")
        return found

    @classmethod
    def from_minutes(cls, table: Mapping[str, Mapping[str, tuple[int, int]]]) -> SlaPolicy:
        """Build from ``{tier: {priority: (first_response_minutes, resolution_minutes)}}``."""
        targets = {
            (tier, priority): SlaTargets(timedelta(minutes=first), timedelta(minutes=resolution))
            for tier, rows in table.items()
            for priority, (first, resolution) in rows.items()
        }
        missing = [p for p in PRIORITIES if (STANDARD_TIER, p) not in targets]
        if missing:
            raise ValueError(f"the standard tier needs targets for every priority; missing {missing}")
        return cls(targets)

    def as_minutes(self) -> dict[str, dict[str, tuple[int, int]]]:
        """The inverse of ``from_minutes`` (for the API)."""
        table: dict[str, dict[str, tuple[int, int]]] = {}
        for (tier, priority), t in sorted(self.targets.items()):
            table.setdefault(tier, {})[priority] = (
                int(t.first_response.total_seconds() // 60),
                int(t.resolution.total_seconds() // 60),
            )
        return table


DEFAULT_POLICY_MINUTES: dict[str, dict[str, tuple[int, int]]] = {
    STANDARD_TIER: {
        "urgent": (60, 8 * 60),
        "high": (4 * 60, 24 * 60),
        "normal": (8 * 60, 72 * 60),
        "low": (24 * 60, 120 * 60),
    },
    DEDICATED_TIER: {
        "urgent": (30, 4 * 60),
        "high": (60, 12 * 60),
        "normal": (2 * 60, 24 * 60),
        "low": (8 * 60, 72 * 60),
    },
}
DEFAULT_POLICY = SlaPolicy.from_minutes(DEFAULT_POLICY_MINUTES)


@dataclass(frozen=True, slots=True)
class Breach:
    """A target that passed unmet, seen at ``seen_at``."""

    target: SlaTarget
    due_at: datetime
    seen_at: datetime

    @property
    def late_by_seconds(self) -> int:
        return max(0, int((self.seen_at - self.due_at).total_seconds()))


@dataclass(slots=True)
class SlaClock:
    """One ticket's SLA state: due times, what was met, what breached, whether it is paused."""

    opened_at: datetime
    targets: SlaTargets
    first_response_due: datetime
    resolution_due: datetime
    first_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    paused_since: datetime | None = None
    paused_total: timedelta = timedelta(0)
    breached: set[str] = field(default_factory=set)
    """Targets reported for the current due times (a reopened ticket's new resolution target is not)."""
    breach_count: int = 0
    """Every breach ever reported, kept across reopenings."""
    calendar: BusinessCalendar = ALWAYS_OPEN
    """The working time the targets count in (not event state: the caller supplies the definition)."""

    @classmethod
    def start(cls, opened_at: datetime, targets: SlaTargets, calendar: BusinessCalendar = ALWAYS_OPEN) -> SlaClock:
        """A clock that starts running at ``opened_at``: due moments are the targets in business time."""
        return cls(
            opened_at=opened_at,
            targets=targets,
            first_response_due=calendar.add(opened_at, targets.first_response),
            resolution_due=calendar.add(opened_at, targets.resolution),
            calendar=calendar,
        )

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    @property
    def ever_breached(self) -> bool:
        return self.breach_count > 0

    def pause(self, at: datetime) -> None:
        """Stop the clocks (waiting on the customer)."""
        if self.paused_since is None:
            self.paused_since = at

    def resume(self, at: datetime) -> timedelta:
        """Restart the clocks; unmet due times move by the business time paused; the wall-clock pause is returned."""
        if self.paused_since is None:
            return timedelta(0)
        paused = max(timedelta(0), at - self.paused_since)
        first_due, resolution_due = self.due_after_pause(at)
        self.paused_since = None
        self.paused_total += paused
        self.first_response_due, self.resolution_due = first_due, resolution_due
        return paused

    def due_after_pause(self, at: datetime) -> tuple[datetime, datetime]:
        """The due moments once a pause that started at ``paused_since`` ends at ``at``.

        Each unmet due moment moves later by the business time the pause covered: a pause over a
        weekend on a weekday calendar moves nothing; on 24/7 it moves by the whole pause.
        """
        if self.paused_since is None:
            return self.first_response_due, self.resolution_due
        covered = self.calendar.business_time(self.paused_since, at)
        first = self.first_response_due
        if self.first_responded_at is None:
            first = self.calendar.add(first, covered)
        resolution = self.resolution_due
        if self.resolved_at is None:
            resolution = self.calendar.add(resolution, covered)
        return first, resolution

    def respond(self, at: datetime) -> bool:
        """Record a first response; True when this was the first one."""
        if self.first_responded_at is not None:
            return False
        self.first_responded_at = at
        return True

    def resolve(self, at: datetime) -> None:
        """Stop everything: the ticket is resolved (an open pause ends here)."""
        self.resume(at)
        self.resolved_at = at

    def restart_resolution(self, at: datetime) -> None:
        """A reopened ticket gets a fresh resolution target from ``at`` (and may breach it again)."""
        self.resolved_at = None
        self.resolution_due = self.calendar.add(at, self.targets.resolution)
        self.breached.discard("resolution")

    def due_breaches(self, now: datetime) -> list[Breach]:
        """Targets that are past due at ``now``, unmet and not reported yet (none while paused)."""
        if self.paused or self.resolved_at is not None:
            return []
        found: list[Breach] = []
        if self.first_responded_at is None and "first_response" not in self.breached and now >= self.first_response_due:
            found.append(Breach("first_response", self.first_response_due, now))
        if "resolution" not in self.breached and now >= self.resolution_due:
            found.append(Breach("resolution", self.resolution_due, now))
        return found

    def mark_breached(self, target: str) -> None:
        if target not in self.breached:
            self.breached.add(target)
            self.breach_count += 1

    def next_due(self) -> datetime | None:
        """The next moment a breach can happen (the agent's queue order); None when nothing can."""
        if self.paused or self.resolved_at is not None:
            return None
        candidates = []
        if self.first_responded_at is None and "first_response" not in self.breached:
            candidates.append(self.first_response_due)
        if "resolution" not in self.breached:
            candidates.append(self.resolution_due)
        return min(candidates) if candidates else None

    def business_seconds(self, start: datetime, end: datetime) -> int:
        """Seconds from ``start`` to ``end`` minus the time paused so far (for KPIs)."""
        return max(0, int((end - start - self.paused_total).total_seconds()))
