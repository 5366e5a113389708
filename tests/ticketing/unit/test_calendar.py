"""Business-time arithmetic of ticketing calendars, including the DST weekends of two zones.

Every moment is passed in explicitly (the calendar never reads a clock), so these tests mean the
same on any day they run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.ticketing.domain.calendar import ALWAYS_OPEN, BusinessCalendar, CalendarError, Shift

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
H = timedelta(hours=1)


def a_calendar(zone: str = "Europe/Berlin", *, weekdays: str = "09:00-12:00,13:00-17:00", saturday: str = "",
               sunday: str = "", **kwargs: object) -> BusinessCalendar:
    """Monday to Friday split shifts by default; weekend hours only when given."""

    def day(text: str) -> tuple[Shift, ...]:
        return tuple(Shift.parse(*part.split("-")) for part in text.split(",") if part)

    weekly = (day(weekdays),) * 5 + (day(saturday), day(sunday))
    return BusinessCalendar(time_zone=zone, weekly=weekly, **kwargs)  # type: ignore[arg-type]


def local(zone: ZoneInfo, *parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=zone, fold=fold)  # type: ignore[misc]


def test_four_business_hours_from_friday_afternoon_end_on_monday_before_lunch() -> None:
    desk = a_calendar()
    friday = local(BERLIN, 2026, 6, 12, 16, 0)
    assert desk.add(friday, 4 * H) == local(BERLIN, 2026, 6, 15, 12, 0)
    assert desk.business_time(friday, local(BERLIN, 2026, 6, 15, 12, 0)) == 4 * H


def test_a_due_moment_at_the_end_of_a_shift_is_that_end_and_the_lunch_break_does_not_count() -> None:
    desk = a_calendar()
    assert desk.add(local(BERLIN, 2026, 6, 10, 13, 0), 4 * H) == local(BERLIN, 2026, 6, 10, 17, 0)
    assert desk.add(local(BERLIN, 2026, 6, 10, 11, 0), 2 * H) == local(BERLIN, 2026, 6, 10, 14, 0)
    assert desk.add(local(BERLIN, 2026, 6, 10, 12, 30), timedelta(0)) == local(BERLIN, 2026, 6, 10, 12, 30)


def test_time_outside_working_hours_starts_counting_at_the_next_opening() -> None:
    desk = a_calendar()
    assert desk.add(local(BERLIN, 2026, 6, 13, 10, 0), H) == local(BERLIN, 2026, 6, 15, 10, 0)  # Saturday
    assert not desk.is_open(local(BERLIN, 2026, 6, 10, 12, 15))
    assert desk.is_open(local(BERLIN, 2026, 6, 10, 9, 0))


def test_holidays_are_closed_and_a_date_exception_overrides_both_the_weekday_and_a_holiday() -> None:
    desk = a_calendar(
        holidays={date(2026, 12, 25): "Christmas Day", date(2026, 12, 24): "Christmas Eve"},
        exceptions={
            date(2026, 12, 24): (Shift.parse("09:00", "12:00"),),
            date(2026, 12, 26): (Shift.parse("10:00", "14:00"),),
        },
    )
    # Thursday 24th: half day 09-12 (3h); Friday 25th holiday; Saturday 26th special opening 10-14.
    assert desk.add(local(BERLIN, 2026, 12, 24, 9, 0), 5 * H) == local(BERLIN, 2026, 12, 26, 12, 0)
    assert desk.hours_on(date(2026, 12, 25)) == ()


def test_always_open_is_plain_time_arithmetic() -> None:
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert ALWAYS_OPEN.always_open
    assert ALWAYS_OPEN.add(start, 10 * H) == start + 10 * H
    assert ALWAYS_OPEN.business_time(start, start + 26 * H) == 26 * H


# ---- daylight saving: Europe/Berlin (2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00) ----------


def test_berlin_spring_forward_sunday_has_23_hours_and_the_skipped_hour_is_never_counted() -> None:
    desk = a_calendar(sunday="00:00-24:00")
    sunday = local(BERLIN, 2026, 3, 29, 0, 0)
    monday = local(BERLIN, 2026, 3, 30, 0, 0)
    assert desk.business_time(sunday, monday) == 23 * H
    assert desk.add(sunday, 23 * H) == monday
    # 01:00 CET + 2 business hours: 02:00-03:00 does not exist, so it is 04:00 CEST (02:00 UTC).
    assert desk.add(local(BERLIN, 2026, 3, 29, 1, 0), 2 * H) == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)


def test_berlin_a_shift_starting_in_the_skipped_hour_starts_when_the_clocks_jump() -> None:
    desk = a_calendar(sunday="02:30-05:00")
    assert desk.business_time(local(BERLIN, 2026, 3, 29, 0, 0), local(BERLIN, 2026, 3, 30, 0, 0)) == 2 * H
    assert desk.add(local(BERLIN, 2026, 3, 28, 12, 0), timedelta(minutes=1)) == datetime(2026, 3, 29, 1, 1, tzinfo=UTC)


def test_berlin_fall_back_sunday_has_25_hours_and_a_shift_covers_the_repeated_hour_twice() -> None:
    desk = a_calendar(sunday="00:00-24:00")
    sunday = local(BERLIN, 2026, 10, 25, 0, 0)
    assert desk.business_time(sunday, local(BERLIN, 2026, 10, 26, 0, 0)) == 25 * H
    night = a_calendar(sunday="01:00-04:00")
    assert night.business_time(sunday, local(BERLIN, 2026, 10, 26, 0, 0)) == 4 * H
    # Three business hours from 01:00 CEST: 01:00-02:00 CEST, 02:00-03:00 CEST, 02:00-03:00 CET.
    assert night.add(local(BERLIN, 2026, 10, 25, 1, 0), 3 * H) == local(BERLIN, 2026, 10, 25, 3, 0)


def test_berlin_office_hours_keep_eight_real_hours_across_the_change() -> None:
    desk = a_calendar(weekdays="09:00-17:00")
    friday_before = local(BERLIN, 2026, 3, 27, 16, 0)  # CET, UTC+1
    assert desk.add(friday_before, 2 * H) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # Monday 10:00 CEST


# ---- daylight saving: America/New_York (2026-03-08 02:00 -> 03:00, 2026-11-01 02:00 -> 01:00) --------


def test_new_york_office_hours_across_the_spring_weekend_keep_their_wall_clock_times() -> None:
    desk = a_calendar("America/New_York", weekdays="09:00-17:00")
    friday = local(NEW_YORK, 2026, 3, 6, 16, 0)  # EST, UTC-5
    due = desk.add(friday, 2 * H)
    assert due == local(NEW_YORK, 2026, 3, 9, 10, 0)  # EDT, UTC-4
    assert due == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    assert desk.business_time(friday, due) == 2 * H


def test_new_york_spring_and_fall_sundays_have_23_and_25_hours() -> None:
    desk = a_calendar("America/New_York", sunday="00:00-24:00")
    assert desk.business_time(local(NEW_YORK, 2026, 3, 8, 0, 0), local(NEW_YORK, 2026, 3, 9, 0, 0)) == 23 * H
    assert desk.business_time(local(NEW_YORK, 2026, 11, 1, 0, 0), local(NEW_YORK, 2026, 11, 2, 0, 0)) == 25 * H
    # 01:30 happens twice on 1 November: a shift ending at 01:30 ends at its second occurrence.
    late = a_calendar("America/New_York", sunday="00:00-01:30")
    assert late.business_time(local(NEW_YORK, 2026, 11, 1, 0, 0), local(NEW_YORK, 2026, 11, 2, 0, 0)) == timedelta(
        hours=2, minutes=30
    )


def test_add_and_business_time_agree_over_a_year_of_working_days() -> None:
    desk = a_calendar("America/New_York", holidays={date(2026, 7, 3): "Independence Day (observed)"})
    start = local(NEW_YORK, 2026, 1, 2, 10, 15)
    for hours in (1, 7, 40, 500, 1500):
        due = desk.add(start, hours * H)
        assert desk.business_time(start, due) == hours * H


# ---- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: a_calendar("Mars/Olympus_Mons"), "time_zone"),
        (lambda: a_calendar("../etc/passwd"), "time_zone"),
        (lambda: a_calendar(weekdays="09:00-13:00,12:00-17:00"), "weekly_hours.monday"),
        (lambda: a_calendar(weekdays="13:00-17:00,09:00-12:00"), "weekly_hours.monday"),
        (lambda: a_calendar(weekdays=""), "weekly_hours"),
        (lambda: Shift.parse("17:00", "09:00"), "hours"),
        (lambda: Shift.parse("09:00", "09:00"), "hours"),
        (lambda: Shift.parse("24:00", "24:00"), "hours"),
        (lambda: Shift.parse("9am", "17:00"), "hours"),
        (
            lambda: a_calendar(exceptions={date(2026, 1, 2): (Shift(600, 700), Shift(650, 800))}),
            "exceptions.2026-01-02",
        ),
    ],
)
def test_a_calendar_that_cannot_work_is_refused_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(CalendarError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
