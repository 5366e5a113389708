"""Business-hours calendars: when the support desk works, and business-time arithmetic over it.

A desk promises "4 business hours", not four hours: a ticket opened on Friday at 16:00 in Berlin with
09:00-17:00 hours is due on Monday at 11:00, and not at all during Christmas. A calendar is data: a
time zone, weekly working hours (split shifts allowed), public holidays and date exceptions (other
hours on one date: a half day on Christmas Eve, a Saturday opening before a launch). Everything here
is pure: moments in, moments out, no clock and no I/O, so the aggregate, the scheduler's due moments
and the SLA back-test all count business time through the same two functions, :meth:`add` and
:meth:`business_time`.

Daylight saving. Working hours are wall-clock times where the desk is (``zoneinfo``): a 09:00-17:00
day is eight real hours on every date, while a 00:00-24:00 day is 23 hours on the spring-forward
Sunday and 25 on the fall-back one. A start or end that falls in the hour the clocks skip is the
moment they jump (nothing is counted twice or lost); one that falls in the repeated hour starts at
its first occurrence and ends at its last, so a shift always covers every moment its wall-clock
times name.

The calendar that is open all the time (:data:`ALWAYS_OPEN`) is plain ``datetime`` arithmetic, so
desks without a calendar keep exactly the 24/7 behaviour they had.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from shared.contracts.ticketing import CalendarSpec

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_PER_DAY = 24 * 60

#: How far ahead :meth:`BusinessCalendar.add` looks before it gives up: a target needing more than
#: this many calendar days of working time is a configuration error, not a promise to a customer.
HORIZON_DAYS = 366 * 20

_CLOCK = re.compile(r"^(?:(?P<h>[01]\d|2[0-3]):(?P<m>[0-5]\d)|(?P<midnight>24:00))$")


class CalendarError(ValueError):
    """A calendar that cannot be used (unknown zone, overlapping or empty shifts, ...); says why and where."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


@dataclass(frozen=True, slots=True, order=True)
class Shift:
    """Working time on one date, in minutes after local midnight: ``[start, end)``; ``end`` 1440 is midnight."""

    start: int
    end: int

    @classmethod
    def parse(cls, start: str, end: str, *, where: str = "hours") -> Shift:
        """From ``"HH:MM"`` texts (``"24:00"`` ends the day); refuses an end not after its start."""
        first, last = _minutes(start, where, allow_midnight=False), _minutes(end, where, allow_midnight=True)
        if last <= first:
            raise CalendarError(f"{where}: a shift must end after it starts ({start}-{end})", field=where)
        return cls(first, last)

    def text(self) -> tuple[str, str]:
        """The ``("HH:MM", "HH:MM")`` form (the inverse of :meth:`parse`)."""
        return _clock_text(self.start), _clock_text(self.end)


@dataclass(frozen=True, slots=True, eq=False)
class BusinessCalendar:
    """Working hours in one time zone; a date's hours are its exception, else none on a holiday, else its weekday's."""

    time_zone: str = "UTC"
    weekly: tuple[tuple[Shift, ...], ...] = tuple(((Shift(0, MINUTES_PER_DAY),),) * 7)
    holidays: Mapping[date, str] = field(default_factory=dict)
    exceptions: Mapping[date, tuple[Shift, ...]] = field(default_factory=dict)
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.time_zone != "UTC" and self.time_zone not in _zones():
            raise CalendarError(f"unknown time zone {self.time_zone!r} (use an IANA name such as Europe/Berlin)",
                                field="time_zone")
        if len(self.weekly) != 7:
            raise CalendarError("weekly hours need the seven weekdays", field="weekly_hours")
        for name, shifts in zip(WEEKDAYS, self.weekly, strict=True):
            _check_day(shifts, f"weekly_hours.{name}")
        for day, shifts in self.exceptions.items():
            _check_day(shifts, f"exceptions.{day.isoformat()}")
        if not any(self.weekly):
            # Holidays and exceptions are finite: without weekly hours a target could never be met.
            raise CalendarError("a calendar needs working hours on at least one weekday", field="weekly_hours")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def always_open(self) -> bool:
        """True for 24/7: every weekday 00:00-24:00 and no holiday or exception (plain time arithmetic)."""
        return not self.holidays and not self.exceptions and all(d == (_WHOLE_DAY,) for d in self.weekly)

    def hours_on(self, day: date) -> tuple[Shift, ...]:
        """The working hours of a local date (its exception, else nothing on a holiday, else its weekday's)."""
        if day in self.exceptions:
            return self.exceptions[day]
        if day in self.holidays:
            return ()
        return self.weekly[day.weekday()]

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of business time after ``start`` (``start`` itself for no time).

        A due moment that lands exactly where a shift ends is that end (4 business hours from 13:00
        with 09:00-17:00 is 17:00, not 09:00 the next day).
        """
        if duration <= timedelta(0):
            return start
        if self.always_open:
            return start + duration  # exactly the 24/7 arithmetic the platform had before calendars
        start = _aware(start)
        remaining = duration
        for begin, end in self._intervals_from(start):
            span = end - begin
            if span >= remaining:
                return begin + remaining
            remaining -= span
        raise CalendarError(f"no {duration} of business time within {HORIZON_DAYS} days", field="weekly_hours")

    def business_time(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two moments (zero when ``end`` is not after ``start``)."""
        if end <= start:
            return timedelta(0)
        if self.always_open:
            return end - start
        start, end = _aware(start), _aware(end)
        total = timedelta(0)
        for begin, finish in self._intervals_from(start):
            if begin >= end:
                break
            total += min(finish, end) - begin
        return total

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls in working time."""
        at = _aware(at)
        return self.business_time(at, at + timedelta(microseconds=1)) > timedelta(0)

    def _intervals_from(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals (UTC) that end after ``start``, clipped to begin no earlier than it, in order."""
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(HORIZON_DAYS):
            for begin, end in self._day(day):
                if end > start:
                    yield max(begin, start), end
            day += timedelta(days=1)

    def _day(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        found = self._days.get(day)
        if found is None:
            found = tuple(
                (b, e)
                for b, e in ((self._instant(day, s.start, first=True), self._instant(day, s.end, first=False))
                             for s in self.hours_on(day))
                if e > b
            )
            if len(self._days) > 4096:  # a long-lived calendar must not grow without bound
                self._days.clear()
            self._days[day] = found
        return found

    def _instant(self, day: date, minutes: int, *, first: bool) -> datetime:
        """The UTC moment a local wall-clock time happens on ``day`` (see the module notes on DST)."""
        if minutes >= MINUTES_PER_DAY:
            day, minutes = day + timedelta(days=1), minutes - MINUTES_PER_DAY
        local = datetime.combine(day, time(minutes // 60, minutes % 60))
        zone = self.zone
        early = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
        late = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if early == late:
            return early
        if early.astimezone(zone).replace(tzinfo=None) == local:  # the repeated hour: both exist
            return min(early, late) if first else max(early, late)
        return _transition(zone, min(early, late), max(early, late))  # the skipped hour


def _transition(zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The first moment in ``(low, high]`` whose UTC offset differs from ``low``'s (a gap's jump), to the second."""
    before = low.astimezone(zone).utcoffset()
    lo, hi = 0, int((high - low).total_seconds())
    while lo < hi:
        mid = (lo + hi) // 2
        if (low + timedelta(seconds=mid)).astimezone(zone).utcoffset() == before:
            lo = mid + 1
        else:
            hi = mid
    return low + timedelta(seconds=lo)


def _check_day(shifts: tuple[Shift, ...], where: str) -> None:
    previous: Shift | None = None
    for shift in shifts:
        if not 0 <= shift.start < shift.end <= MINUTES_PER_DAY:
            raise CalendarError(f"{where}: a shift must end after it starts, within the day", field=where)
        if previous is not None and shift.start < previous.end:
            raise CalendarError(
                f"{where}: shifts {'-'.join(previous.text())} and {'-'.join(shift.text())} overlap or are out of order",
                field=where,
            )
        previous = shift


def _minutes(text: str, where: str, *, allow_midnight: bool) -> int:
    match = _CLOCK.match(text or "")
    if match is None or (match["midnight"] and not allow_midnight):
        raise CalendarError(f"{where}: {text!r} is not a time of day HH:MM (24:00 only as an end)", field=where)
    if match["midnight"]:
        return MINUTES_PER_DAY
    return int(match["h"]) * 60 + int(match["m"])


def _clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _aware(moment: datetime) -> datetime:
    # The platform's moments are UTC; a naive one can only mean UTC (as the contracts' Instant says).
    # Converting matters: Python adds a timedelta to a zoned datetime in wall-clock time, which is
    # wrong by the DST jump exactly when it matters.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


_WHOLE_DAY = Shift(0, MINUTES_PER_DAY)

ALWAYS_OPEN = BusinessCalendar()
"""24/7 in UTC: the default of every SLA tier that names no calendar."""


def calendar_from_spec(spec: CalendarSpec) -> BusinessCalendar:
    """The calendar a contract definition describes; :class:`CalendarError` names the field that is wrong."""
    weekly = tuple(
        tuple(
            Shift.parse(h.start, h.end, where=f"weekly_hours.{day}[{i}]")
            for i, h in enumerate(getattr(spec.weekly_hours, day))
        )
        for day in WEEKDAYS
    )
    holidays: dict[date, str] = {}
    for holiday in spec.holidays:
        holidays[holiday.date] = holiday.name
    exceptions: dict[date, tuple[Shift, ...]] = {}
    for exception in spec.exceptions:
        if exception.date in exceptions:
            raise CalendarError(f"exceptions: {exception.date} is listed twice", field="exceptions")
        where = f"exceptions.{exception.date.isoformat()}"
        exceptions[exception.date] = tuple(
            Shift.parse(h.start, h.end, where=f"{where}[{i}]") for i, h in enumerate(exception.hours)
        )
    return BusinessCalendar(time_zone=spec.time_zone, weekly=weekly, holidays=holidays, exceptions=exceptions)
