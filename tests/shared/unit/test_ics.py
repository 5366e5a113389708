"""shared.ics: the holiday reading of iCalendar files that ticketing calendars and campaign blackouts share."""

from __future__ import annotations

from datetime import date

import pytest

from shared.ics import MAX_HOLIDAYS, Holiday, IcsError, parse_holidays


def an_ics(*events: str, header: str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n") -> bytes:
    """A calendar file around the given VEVENT bodies (property lines without BEGIN/END)."""
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    return (header + body + "END:VCALENDAR\r\n").encode()


def event(*lines: str) -> str:
    return "\r\n".join(lines)


def test_all_day_events_are_holidays_with_their_names() -> None:
    data = an_ics(
        event("UID:1", "SUMMARY:Christmas Day", "DTSTART;VALUE=DATE:20261225", "DTEND;VALUE=DATE:20261226"),
        event("UID:2", "SUMMARY:New Year's Day", "DTSTART;VALUE=DATE:20270101"),
    )
    assert parse_holidays(data) == [
        Holiday(date(2026, 12, 25), "Christmas Day"),
        Holiday(date(2027, 1, 1), "New Year's Day"),
    ]


def test_the_end_of_an_all_day_event_is_exclusive_and_a_long_one_covers_every_day() -> None:
    data = an_ics(event("UID:1", "SUMMARY:Carnival", "DTSTART;VALUE=DATE:20270208", "DTEND;VALUE=DATE:20270211"))
    assert [h.day for h in parse_holidays(data)] == [date(2027, 2, 8), date(2027, 2, 9), date(2027, 2, 10)]


def test_a_duration_counts_like_an_end() -> None:
    data = an_ics(event("UID:1", "SUMMARY:Bridge", "DTSTART;VALUE=DATE:20261224", "DURATION:P2D"))
    assert [h.day for h in parse_holidays(data)] == [date(2026, 12, 24), date(2026, 12, 25)]


def test_a_timed_event_counts_the_wall_clock_dates_it_touches() -> None:
    data = an_ics(
        event(
            "UID:1",
            "SUMMARY:Half day",
            "DTSTART;TZID=Europe/Berlin:20261224T120000",
            "DTEND;TZID=Europe/Berlin:20261225T000000",
        ),
        event("UID:2", "SUMMARY:Overnight", "DTSTART:20261230T220000Z", "DTEND:20261231T020000Z"),
    )
    assert parse_holidays(data) == [
        Holiday(date(2026, 12, 24), "Half day"),
        Holiday(date(2026, 12, 30), "Overnight"),
        Holiday(date(2026, 12, 31), "Overnight"),
    ]


def test_a_yearly_rule_is_expanded_with_its_exceptions_and_extra_dates() -> None:
    data = an_ics(
        event(
            "UID:xmas",
            "SUMMARY:Christmas",
            "DTSTART;VALUE=DATE:20261225",
            "RRULE:FREQ=YEARLY;UNTIL=20301225T000000Z",
            "EXDATE;VALUE=DATE:20281225",
            "RDATE;VALUE=DATE:20261226",
        )
    )
    assert [h.day for h in parse_holidays(data)] == [
        date(2026, 12, 25),
        date(2026, 12, 26),
        date(2027, 12, 25),
        date(2029, 12, 25),
        date(2030, 12, 25),
    ]


def test_an_open_ended_rule_stops_at_until() -> None:
    data = an_ics(event("UID:may", "SUMMARY:Labour Day", "DTSTART;VALUE=DATE:20260501", "RRULE:FREQ=YEARLY"))
    assert [h.day.year for h in parse_holidays(data, until=date(2028, 12, 31))] == [2026, 2027, 2028]
    assert len(parse_holidays(data)) == 11  # ten years after the start, inclusive


def test_a_moved_occurrence_replaces_the_one_it_names_and_cancelled_events_are_not_holidays() -> None:
    data = an_ics(
        event("UID:h", "SUMMARY:Founders", "DTSTART;VALUE=DATE:20260610", "RRULE:FREQ=YEARLY;COUNT=3"),
        event("UID:h", "SUMMARY:Founders", "RECURRENCE-ID;VALUE=DATE:20270610", "DTSTART;VALUE=DATE:20270611"),
        event("UID:c", "SUMMARY:Called off", "STATUS:CANCELLED", "DTSTART;VALUE=DATE:20260704"),
    )
    assert [h.day for h in parse_holidays(data)] == [date(2026, 6, 10), date(2027, 6, 11), date(2028, 6, 10)]


def test_an_empty_calendar_has_no_holidays_and_duplicates_collapse() -> None:
    assert parse_holidays(an_ics()) == []
    same = event("UID:1", "SUMMARY:Day", "DTSTART;VALUE=DATE:20260101")
    assert parse_holidays(an_ics(same, same.replace("UID:1", "UID:2"))) == [Holiday(date(2026, 1, 1), "Day")]


def test_folded_and_escaped_lines_are_read_by_the_parser() -> None:
    data = an_ics(event("UID:1", "SUMMARY:Day of the\r\n  long name\\, folded", "DTSTART;VALUE=DATE:20260303"))
    assert parse_holidays(data) == [Holiday(date(2026, 3, 3), "Day of the long name, folded")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"   \r\n", "empty"),
        (b"this is not a calendar", "not an iCalendar file"),
        (b"\xff\xfe\x00garbage", "not an iCalendar file"),
        (b"BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\nEND:VEVENT\r\n", "BEGIN:VCALENDAR"),
        (an_ics(event("UID:1", "SUMMARY:Bad", "DTSTART;VALUE=DATE:2026x225")), "DTSTART"),
        (an_ics(event("UID:1", "SUMMARY:No start")), "no DTSTART"),
        (an_ics(event("UID:1", "DTSTART;VALUE=DATE:20260101", "RRULE:FREQ=HOURLY")), "more often than daily"),
    ],
)
def test_a_file_that_is_not_a_usable_holiday_calendar_is_a_clear_value_error(data: bytes, reason: str) -> None:
    with pytest.raises(IcsError, match=reason) as caught:
        parse_holidays(data)
    assert isinstance(caught.value, ValueError)
    assert len(str(caught.value)) <= 300


def test_a_rule_that_gives_more_dates_than_a_holiday_table_holds_is_refused() -> None:
    daily = an_ics(event("UID:1", "DTSTART;VALUE=DATE:20260101", "RRULE:FREQ=DAILY;COUNT=6000"))
    assert len(parse_holidays(daily)) == 3653  # the default horizon ends ten years after the start
    with pytest.raises(IcsError, match="more than 5,000"):
        parse_holidays(daily, until=date(2045, 1, 1))


def test_the_cap_counts_dates_across_events() -> None:
    events = [
        event(f"UID:{i}", f"SUMMARY:D{i}", f"DTSTART;VALUE=DATE:{date.fromordinal(740000 + i):%Y%m%d}")
        for i in range(MAX_HOLIDAYS + 1)
    ]
    with pytest.raises(IcsError, match="more than 5,000"):
        parse_holidays(an_ics(*events))
