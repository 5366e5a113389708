"""Calendars as data: the ``Calendar`` aggregate and which calendar each SLA tier counts on.

Both are small event-sourced aggregates so every change says who, when and what (the whole new
definition rides on the event, so a subscriber never needs the previous one), and ``If-Match``
works on their versions. Validation happens here, before anything is recorded: a calendar that
cannot count business time (unknown zone, overlapping or empty shifts, an end before its start) is
refused with the field that is wrong, and nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import date, datetime

from services.ticketing.domain.calendar import BusinessCalendar, CalendarError, calendar_from_spec
from shared.contracts.ticketing import (
    CalendarChanged,
    CalendarDefined,
    CalendarHoliday,
    CalendarSpec,
    SlaCalendarsAssigned,
)
from shared.errors import Conflict, InvalidInput
from shared.store.aggregate import Aggregate

CALENDAR_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
"""A calendar's name: a short lowercase slug (it is part of URLs and stream ids)."""
TIERS_STREAM = "sla-calendars"


def calendar_stream(name: str) -> str:
    """The event stream of one calendar."""
    return f"calendar:{name}"


def checked(spec: CalendarSpec) -> BusinessCalendar:
    """The calendar ``spec`` describes, or ``InvalidInput`` (422) naming the field that is wrong."""
    try:
        return calendar_from_spec(spec)
    except CalendarError as exc:
        raise InvalidInput(exc.detail, field=exc.field or "calendar") from None


class Calendar(Aggregate):
    """One named business-hours calendar; version 0 means it does not exist yet."""

    def _initial_state(self) -> None:
        self.name: str | None = None
        self.spec: CalendarSpec | None = None

    @property
    def exists(self) -> bool:
        return self.spec is not None

    def define(
        self, *, name: str, spec: CalendarSpec, by: str | None, now: datetime, source: str = "api"
    ) -> BusinessCalendar:
        """Create the calendar or replace its whole definition; the same definition again records nothing."""
        calendar = checked(spec)
        if self.spec is None:
            self._record(CalendarDefined(calendar=name, definition=spec, defined_by=by, defined_at=now))
        elif spec != self.spec:
            self._record(
                CalendarChanged(
                    calendar=name,
                    definition=spec,
                    source="ics_import" if source == "ics_import" else "api",
                    changed_by=by,
                    changed_at=now,
                )
            )
        return calendar

    def with_holidays(self, holidays: Collection[tuple[date, str]], *, replace: bool) -> CalendarSpec:
        """The definition with these holidays added (a date already listed takes the new name), or instead."""
        if self.spec is None:
            raise Conflict("the calendar does not exist yet")
        merged: dict[date, str] = {} if replace else {h.date: h.name for h in self.spec.holidays}
        for day, name in holidays:
            merged[day] = name
        listed = [CalendarHoliday(date=d, name=n) for d, n in sorted(merged.items())]
        return self.spec.model_copy(update={"holidays": listed})

    def _on_CalendarDefined(self, e: CalendarDefined) -> None:  # noqa: N802
        self.name, self.spec = e.calendar, e.definition

    def _on_CalendarChanged(self, e: CalendarChanged) -> None:  # noqa: N802
        self.spec = e.definition


class TierCalendars(Aggregate):
    """Which calendar each SLA tier counts on (a tier not named is 24/7)."""

    def _initial_state(self) -> None:
        self.tiers: dict[str, str | None] = {}

    def assign(
        self, tiers: Mapping[str, str | None], *, known_tiers: Collection[str], by: str | None, now: datetime
    ) -> dict[str, str | None]:
        """Set the calendars of the tiers named (others keep theirs); returns the tiers whose calendar changed."""
        unknown = sorted(set(tiers) - set(known_tiers))
        if unknown:
            raise InvalidInput(
                f"unknown SLA tier {unknown[0]!r}; the tiers are: {', '.join(sorted(known_tiers))}",
                field="tiers",
                allowed=sorted(known_tiers),
            )
        changed = {t: c for t, c in tiers.items() if self.tiers.get(t) != c}
        if changed:
            whole = {**self.tiers, **tiers}
            self._record(SlaCalendarsAssigned(tiers=dict(sorted(whole.items())), changed_by=by, assigned_at=now))
        return changed

    def _on_SlaCalendarsAssigned(self, e: SlaCalendarsAssigned) -> None:  # noqa: N802
        self.tiers = dict(e.tiers)
