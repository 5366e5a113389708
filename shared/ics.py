"""Holiday dates from an iCalendar (``.ics``) file.

Operations teams keep their public holidays in the calendar tools they already use (Google, Outlook,
the government's published feed) and export them as RFC 5545 files. Ticketing's business-hours
calendars and campaigns' holiday send blackouts both need the same thing from such a file: which
*days* are holidays and what they are called. This module is that one reading, pure (bytes in,
dates out, no clock, no I/O) so both services and their tests share it.

Parsing is delegated to the well-kept ``icalendar`` package (line folding, escaping, parameters and
value types are subtle; we do not hand-roll them). What we add is the holiday reading of events:

- an all-day event covers ``DTSTART`` up to, not including, ``DTEND`` (RFC 5545 3.6.1), one day when
  neither ``DTEND`` nor ``DURATION`` is given; a timed event covers the wall-clock dates it touches, as
  written (a holiday is a date where the calendar's owner lives, not an instant to convert);
- ``RRULE`` (yearly Christmas), ``RDATE`` and ``EXDATE`` are expanded, and an overridden occurrence
  (``RECURRENCE-ID``) replaces the one it names; an open-ended rule is expanded up to ``until``
  (default: :data:`RECURRENCE_YEARS` years after its start), because a holiday table needs a finite
  list;
- cancelled events (``STATUS:CANCELLED``) are not holidays.

Anything that is not a usable holiday file raises :class:`IcsError` (a ``ValueError``), so an API can
turn it into a 422 without catching the parser's own exception types.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from dateutil.rrule import rrulestr
from icalendar import Calendar, Event
from icalendar.prop import vRecur

__all__ = ["MAX_HOLIDAYS", "RECURRENCE_YEARS", "Holiday", "IcsError", "parse_holidays"]

#: More dates than this is not a holiday calendar (a daily rule, a mistaken export); refusing it keeps
#: one upload from becoming an unbounded table or an unbounded loop.
MAX_HOLIDAYS = 5_000

#: How far an open-ended recurrence (``RRULE`` without ``COUNT``/``UNTIL``) is expanded by default.
RECURRENCE_YEARS = 10

# A holiday is a day: rules that repeat more often than daily cannot describe one, and expanding
# them (every second for ten years) would be the unbounded loop MAX_HOLIDAYS exists to prevent.
_SUB_DAILY = frozenset({"SECONDLY", "MINUTELY", "HOURLY"})


class IcsError(ValueError):
    """The bytes are not a usable iCalendar holiday file; the message says why, for a 422 detail."""


@dataclass(frozen=True, slots=True, order=True)
class Holiday:
    """One holiday date and its name (the event's ``SUMMARY``; empty when the file gives none)."""

    day: date
    name: str


def parse_holidays(data: bytes, *, until: date | None = None) -> list[Holiday]:
    """Read the holiday dates of an ``.ics`` file, sorted by date then name, without duplicates.

    ``until`` bounds open-ended recurrences (inclusive); bounded ones (``COUNT``/``UNTIL``) stop at
    their own end or at ``until``, whichever is first. Raises :class:`IcsError` for bytes that are
    not an iCalendar object, a broken date, an event without a start, a sub-daily rule, or more than
    :data:`MAX_HOLIDAYS` dates.
    """
    calendar = _parse_calendar(data)
    events = [e for e in calendar.walk("VEVENT") if isinstance(e, Event)]
    overridden: dict[str, set[date]] = {}
    for event in events:
        if "RECURRENCE-ID" in event:
            overridden.setdefault(str(event.get("UID", "")), set()).add(
                _as_date(event.decoded("RECURRENCE-ID"), "RECURRENCE-ID")
            )
    found: set[Holiday] = set()
    for event in events:
        _refuse_broken(event)
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        name = str(event.get("SUMMARY", "")).strip()
        skip = set() if "RECURRENCE-ID" in event else overridden.get(str(event.get("UID", "")), set())
        for day in _event_days(event, until=until, skip=skip):
            found.add(Holiday(day, name))
            if len(found) > MAX_HOLIDAYS:
                raise IcsError(f"the file has more than {MAX_HOLIDAYS:,} holiday dates")
    return sorted(found)


def _parse_calendar(data: bytes) -> Calendar:
    if not isinstance(data, bytes | bytearray):
        raise IcsError("an .ics file is bytes")
    if not data.strip():
        raise IcsError("the file is empty")
    try:
        calendar = Calendar.from_ical(bytes(data))
    except (ValueError, KeyError, IndexError, TypeError, UnicodeError) as exc:
        # The parser's errors are ValueError in practice, but a malformed file reaching an odd
        # corner must still be a client error, never a 500.
        raise IcsError(f"not an iCalendar file: {_short(exc)}") from exc
    if not isinstance(calendar, Calendar) or calendar.name != "VCALENDAR":
        raise IcsError("the file does not start with BEGIN:VCALENDAR")
    return calendar


def _refuse_broken(event: Event) -> None:
    # icalendar is lenient: a value it cannot read becomes a "broken" property and an entry in
    # ``errors``. For a holiday list a date we cannot read is a wrong answer, so it is an error.
    errors = getattr(event, "errors", None) or []
    for prop, message in errors:
        if str(prop).upper() in {"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"}:
            raise IcsError(f"event {_label(event)}: {prop}: {_short(message)}")
    if "DTSTART" not in event:
        raise IcsError(f"event {_label(event)} has no DTSTART")


def _event_days(event: Event, *, until: date | None, skip: set[date]) -> Iterator[date]:
    start_value = event.decoded("DTSTART")
    start = _as_date(start_value, "DTSTART")
    span = _span_days(event, start_value)
    starts = _occurrences(event, start, until=until)
    for first in starts:
        if first in skip:
            continue
        for offset in range(span):
            yield first + timedelta(days=offset)


def _span_days(event: Event, start_value: object) -> int:
    """How many calendar days one occurrence covers (at least one)."""
    all_day = not isinstance(start_value, datetime)
    if "DTEND" in event:
        end_value = event.decoded("DTEND")
        end = _naive(end_value)
        begin = _naive(start_value)
    elif "DURATION" in event:
        duration = event.decoded("DURATION")
        if not isinstance(duration, timedelta):
            raise IcsError(f"event {_label(event)}: DURATION is not a duration")
        begin = _naive(start_value)
        end = begin + duration
    else:
        return 1
    if end <= begin:
        return 1
    if all_day:
        # DTEND of an all-day event is exclusive: 25th..26th is the 25th alone.
        days = (end.date() - begin.date()).days
    else:
        # A timed event touches every date up to the instant before it ends (ending at midnight
        # does not touch the next day).
        days = ((end - timedelta(microseconds=1)).date() - begin.date()).days + 1
    if days > MAX_HOLIDAYS:
        raise IcsError(f"event {_label(event)} spans more than {MAX_HOLIDAYS:,} days")
    return max(days, 1)


def _occurrences(event: Event, start: date, *, until: date | None) -> Iterator[date]:
    rules: list[Any] = _as_list(event.get("RRULE"))
    extra = {_as_date(v, "RDATE") for v in _dates_of(event.get("RDATE"))}
    excluded = {_as_date(v, "EXDATE") for v in _dates_of(event.get("EXDATE"))}
    horizon = until if until is not None else _years_after(start, RECURRENCE_YEARS)
    days: set[date] = {start} | extra  # explicit dates are listed, not expanded: all of them count
    for rule in rules:
        days.update(_expand(rule, start, horizon, event))
    yield from sorted(days - excluded)


def _expand(rule: Any, start: date, horizon: date, event: Event) -> Iterator[date]:
    if not isinstance(rule, vRecur):
        raise IcsError(f"event {_label(event)}: RRULE is not a recurrence rule")
    freq = [str(f).upper() for f in rule.get("FREQ", [])]
    if not freq:
        raise IcsError(f"event {_label(event)}: RRULE has no FREQ")
    if freq[0] in _SUB_DAILY:
        raise IcsError(f"event {_label(event)}: RRULE FREQ={freq[0]} repeats more often than daily")
    # Dates only: a naive midnight start and a date-only UNTIL keep dateutil from refusing the mix of
    # a floating start with a UTC UNTIL (RFC 5545 allows both in the wild).
    normalised = vRecur(dict(rule))
    if "UNTIL" in normalised:
        normalised["UNTIL"] = [_as_date(u, "UNTIL") for u in _as_list(normalised["UNTIL"])]
    try:
        text: bytes = normalised.to_ical()  # type: ignore[no-untyped-call]  # icalendar leaves it unannotated
        recurrence = rrulestr(text.decode("ascii"), dtstart=datetime.combine(start, time()))
    except (ValueError, TypeError, KeyError) as exc:
        raise IcsError(f"event {_label(event)}: RRULE {_short(exc)}") from exc
    stop = datetime.combine(horizon, time())
    for count, moment in enumerate(recurrence, start=1):
        if moment > stop:
            break
        if count > MAX_HOLIDAYS:
            raise IcsError(f"event {_label(event)}: RRULE gives more than {MAX_HOLIDAYS:,} dates")
        yield moment.date()


def _dates_of(prop: object) -> Iterable[object]:
    for item in _as_list(prop):
        dts = getattr(item, "dts", None)
        if dts is None:
            raise IcsError("RDATE/EXDATE is not a list of dates")
        for value in dts:
            yield getattr(value, "dt", value)


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _as_date(value: object, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, tuple) and value and isinstance(value[0], date):  # RDATE period (start, end)
        return _as_date(value[0], what)
    raise IcsError(f"{what} is not a date")


def _naive(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, time())
    raise IcsError("DTEND is not a date")


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _label(event: Event) -> str:
    summary = str(event.get("SUMMARY", "")).strip()
    return repr(summary[:60]) if summary else "(no SUMMARY)"


def _short(message: object) -> str:
    text = str(message).replace("\r", " ").replace("\n", " ")
    # Never echo a whole file (or a NUL) back in a problem detail.
    text = text.replace("\x00", "")
    return text if len(text) <= 200 else text[:197] + "..."
