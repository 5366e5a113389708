"""Business-hours calendars over the real database: as data through the API, on SLA clocks, re-planning.

The clock is pinned (``ticketing.clock``), so "Friday 16:00 in Berlin" is the same moment on any day
these tests run.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.ticketing.api import schemas
from services.ticketing.application.calendars import define_calendar
from services.ticketing.application.scheduler import emit_sla_breaches
from shared.store.uow import UnitOfWork
from shared.testing.waiting import eventually
from tests.ticketing.api.conftest import TicketingService

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
ADMIN = ("admin",)


def office(hours: list[tuple[str, str]] | None = None, **overrides: Any) -> dict[str, Any]:
    """Berlin, Monday to Friday 09:00-17:00 unless told otherwise."""
    shifts = [{"start": a, "end": b} for a, b in (hours or [("09:00", "17:00")])]
    body: dict[str, Any] = {"time_zone": "Europe/Berlin", "weekly_hours": {d: shifts for d in WEEKDAYS}}
    body.update(overrides)
    return body


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def put_calendar(ticketing: TicketingService, name: str, body: dict[str, Any], **headers: str) -> Any:
    return await ticketing.client.put(f"/v1/calendars/{name}", json=body,
                                      headers={**ticketing.token(*ADMIN), **headers})


async def assign(ticketing: TicketingService, **tiers: str | None) -> Any:
    return await ticketing.client.put("/v1/sla-policies/calendars", json={"tiers": tiers},
                                      headers=ticketing.token(*ADMIN))


async def calendar_events(ticketing: TicketingService) -> list[dict[str, Any]]:
    return [e for e in await ticketing.outbox() if e["type"] in
            ("CalendarDefined", "CalendarChanged", "SlaCalendarsAssigned")]


async def berlin_desk(ticketing: TicketingService, name: str = "berlin", **overrides: Any) -> None:
    assert (await put_calendar(ticketing, name, office(**overrides))).status_code == 201
    assert (await assign(ticketing, standard=name)).status_code == 200


async def test_a_calendar_is_data_defined_read_listed_and_changed_with_events(ticketing: TicketingService) -> None:
    admin = ticketing.token(*ADMIN)
    body = office([("09:00", "12:00"), ("13:00", "17:00")],
                  holidays=[{"date": "2026-12-25", "name": "Christmas Day"}],
                  exceptions=[{"date": "2026-12-24", "hours": [{"start": "09:00", "end": "12:00"}],
                               "note": "Christmas Eve"}])
    created = await put_calendar(ticketing, "berlin", body)
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"' and created.headers["location"] == "/v1/calendars/berlin"
    read = (await ticketing.client.get("/v1/calendars/berlin", headers=ticketing.staff)).json()
    assert read["weekly_hours"]["monday"] == [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]
    assert read["weekly_hours"]["saturday"] == []
    assert read["holidays"] == [{"date": "2026-12-25", "name": "Christmas Day"}]
    assert (read["version"], read["tiers"]) == (1, [])

    same = await put_calendar(ticketing, "berlin", body)
    assert (same.status_code, same.json()["version"]) == (200, 1)
    stale = await put_calendar(ticketing, "berlin", office(), **{"If-Match": '"0"'})
    assert stale.status_code == 412
    changed = await put_calendar(ticketing, "berlin", office(), **{"If-Match": '"1"'})
    assert (changed.status_code, changed.json()["version"], changed.json()["replanned_tickets"]) == (200, 2, 0)

    events = await calendar_events(ticketing)
    assert [e["type"] for e in events] == ["CalendarDefined", "CalendarChanged"]
    assert {e["key"] for e in events} == {"calendar:berlin"}
    assert events[0]["data"]["defined_by"] == "agent-ayse"
    assert events[1]["data"]["definition"]["weekly_hours"]["monday"] == [{"start": "09:00", "end": "17:00"}]

    listed = (await ticketing.client.get("/v1/calendars", headers=ticketing.staff)).json()
    assert [c["name"] for c in listed["items"]] == ["berlin"]
    assert (await ticketing.client.put("/v1/calendars/x", json=office(), headers=ticketing.staff)).status_code == 403
    assert (await ticketing.client.get("/v1/calendars/nowhere", headers=admin)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (office(time_zone="Mars/Olympus_Mons"), "time_zone"),
        (office([("09:00", "13:00"), ("12:00", "17:00")]), "weekly_hours.monday"),
        (office([("17:00", "09:00")]), "weekly_hours.monday[0]"),
        (office([("09:00", "09:00")]), "weekly_hours.monday[0]"),
        ({"time_zone": "Europe/Berlin", "weekly_hours": {}}, "weekly_hours"),
        (office([("9am", "17:00")]), None),
        (office(exceptions=[{"date": "2026-12-24", "hours": []}, {"date": "2026-12-24", "hours": []}]), "exceptions"),
        # A minute a weekday: the policy's 120-hour target would need 27 years.
        (office([("09:00", "09:01")]), "weekly_hours"),
    ],
)
async def test_a_calendar_that_cannot_work_is_a_422_problem_and_changes_nothing(
    ticketing: TicketingService, body: dict[str, Any], field: str | None
) -> None:
    await put_calendar(ticketing, "kept", office())
    answer = await put_calendar(ticketing, "kept", body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert answer.json().get("field") == field, answer.json()
    assert (await put_calendar(ticketing, "fresh", body)).status_code == 422
    assert [e["type"] for e in await calendar_events(ticketing)] == ["CalendarDefined"]
    assert (await ticketing.client.get("/v1/calendars/kept", headers=ticketing.staff)).json()["version"] == 1
    assert (await ticketing.client.get("/v1/calendars/fresh", headers=ticketing.staff)).status_code == 404


async def test_tiers_name_their_calendar_and_unknown_names_are_refused(ticketing: TicketingService) -> None:
    before = (await ticketing.client.get("/v1/sla-policies/calendars", headers=ticketing.staff)).json()
    assert before == {"tiers": {"dedicated_assistance": None, "standard": None}, "version": 0}
    unknown = await assign(ticketing, standard="nowhere")
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem+json")
    await put_calendar(ticketing, "berlin", office())
    bad_tier = await assign(ticketing, platinum="berlin")
    assert bad_tier.status_code == 422
    assert [e["type"] for e in await calendar_events(ticketing)] == ["CalendarDefined"]

    assigned = await assign(ticketing, standard="berlin")
    assert assigned.json() == {"tiers": {"dedicated_assistance": None, "standard": "berlin"}, "version": 1,
                               "replanned_tickets": 0}
    settings = (await ticketing.client.get("/v1/ticket-settings", headers=ticketing.staff)).json()
    assert settings["sla_calendars"] == {"dedicated_assistance": None, "standard": "berlin"}
    assert (await ticketing.client.get("/v1/calendars/berlin", headers=ticketing.staff)).json()["tiers"] == ["standard"]
    event = (await calendar_events(ticketing))[-1]
    assert (event["type"], event["key"], event["data"]["tiers"]["standard"]) == (
        "SlaCalendarsAssigned", "sla-calendars", "berlin")


async def test_due_moments_count_business_hours_and_the_queue_shows_them(ticketing: TicketingService) -> None:
    await berlin_desk(ticketing)
    ticketing.clock.set(utc(2026, 6, 12, 14, 0))  # Friday 16:00 in Berlin (CEST)
    ticket = await ticketing.open(priority="high", agent_id="agent-ayse")  # 4 h first response, 24 h resolution
    assert ticket["sla_calendar"] == "berlin"
    assert ticket["first_response_due"] == z(utc(2026, 6, 15, 10, 0))  # Friday 1 h + Monday 09:00-12:00
    assert ticket["resolution_due"] == z(utc(2026, 6, 17, 14, 0))  # 1 + 8 + 8 + 7 h: Wednesday 16:00
    queue = (await ticketing.client.get("/v1/tickets", headers=ticketing.staff)).json()["items"]
    assert [(t["id"], t["next_due_at"]) for t in queue] == [(ticket["id"], z(utc(2026, 6, 15, 10, 0)))]

    dedicated = await ticketing.open(priority="high", agent_id="agent-ayse",
                                     customer_id=await ticketing.a_known_customer("dedicated_assistance"))
    assert dedicated["sla_calendar"] is None  # its tier names no calendar: 24/7 as before
    assert dedicated["first_response_due"] == z(utc(2026, 6, 12, 15, 0))


async def test_breaches_fire_at_the_business_moment_not_the_wall_clock_one(ticketing: TicketingService) -> None:
    await berlin_desk(ticketing)
    ticketing.clock.set(utc(2026, 6, 12, 14, 0))
    ticket = await ticketing.open(priority="urgent", agent_id="agent-ayse")  # 1 h first response
    assert ticket["first_response_due"] == z(utc(2026, 6, 12, 15, 0))
    quiet = await ticketing.open(priority="high", agent_id="agent-ayse")
    # 24/7 would have breached the high ticket's 4 h on Friday at 18:00 UTC; business time says Monday.
    assert await emit_sla_breaches(ticketing.pool, ticketing.store, utc(2026, 6, 12, 20, 0)) == 1
    assert await emit_sla_breaches(ticketing.pool, ticketing.store, utc(2026, 6, 15, 9, 59)) == 0
    assert await emit_sla_breaches(ticketing.pool, ticketing.store, utc(2026, 6, 15, 10, 0)) == 1
    breach = next(e for e in await ticketing.outbox(quiet["id"]) if e["type"] == "SlaBreached")["data"]
    assert (breach["due_at"], breach["breached_by_seconds"]) == (z(utc(2026, 6, 15, 10, 0)), 0)


async def test_waiting_on_the_customer_pauses_business_time_only(ticketing: TicketingService) -> None:
    await berlin_desk(ticketing)
    ticketing.clock.set(utc(2026, 6, 12, 14, 0))
    ticket = await ticketing.open(priority="high", agent_id="agent-ayse")
    assert (await ticketing.act(ticket["id"], "wait-for-customer")).status_code == 200
    ticketing.clock.set(utc(2026, 6, 15, 8, 0))  # Monday 10:00: two business hours paused (Fri 16-17, Mon 9-10)
    resumed = await ticketing.act(ticket["id"], "resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["first_response_due"] == z(utc(2026, 6, 15, 12, 0))  # Monday 12:00 + 2 h
    assert resumed.json()["resolution_due"] == z(utc(2026, 6, 18, 8, 0))  # Wednesday 16:00 + 2 h: Thursday 10:00
    data = next(e for e in await ticketing.outbox(ticket["id"]) if e["type"] == "TicketResumed")["data"]
    assert data["paused_seconds"] == int(timedelta(days=2, hours=18).total_seconds())  # wall time, for the KPI


async def test_changing_the_calendar_replans_open_tickets_with_events(ticketing: TicketingService) -> None:
    await berlin_desk(ticketing)
    ticketing.clock.set(utc(2026, 6, 12, 14, 0))
    ticket = await ticketing.open(priority="high", agent_id="agent-ayse")
    finished = await ticketing.open(priority="high", agent_id="agent-ayse")
    await ticketing.act(finished["id"], "resolve", {"resolution": "Done"})
    ticketing.clock.set(utc(2026, 6, 12, 14, 30))

    changed = await put_calendar(ticketing, "berlin", office([("09:00", "15:00")]))
    assert (changed.status_code, changed.json()["replanned_tickets"]) == (200, 1)
    replanned = [e for e in await ticketing.outbox(ticket["id"]) if e["type"] == "TicketSlaReplanned"]
    assert len(replanned) == 1
    data = replanned[0]["data"]
    # Friday 16:00 is now after hours: the four hours are Monday 09:00-13:00, the 24 are four 6-hour days.
    assert (data["previous_first_response_due"], data["first_response_due"]) == (
        z(utc(2026, 6, 15, 10, 0)), z(utc(2026, 6, 15, 11, 0)))
    assert (data["previous_resolution_due"], data["resolution_due"]) == (
        z(utc(2026, 6, 17, 14, 0)), z(utc(2026, 6, 18, 13, 0)))
    assert (data["reason"], data["sla_calendar"], replanned[0]["key"]) == (
        "calendar_changed", "berlin", ticket["customer_id"])
    view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=ticketing.staff)).json()
    assert view["resolution_due"] == data["resolution_due"]
    assert view["history"][-1]["type"] == "TicketSlaReplanned"
    assert [e["type"] for e in await ticketing.outbox(finished["id"])][-1] == "TicketResolved"


async def test_holidays_from_an_ics_file_move_open_tickets_and_a_malformed_file_changes_nothing(
    ticketing: TicketingService,
) -> None:
    await berlin_desk(ticketing)
    ticketing.clock.set(utc(2026, 6, 12, 14, 0))
    ticket = await ticketing.open(priority="high", agent_id="agent-ayse")
    admin = {**ticketing.token(*ADMIN), "Content-Type": "text/calendar"}
    holidays = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:1\r\n"
                b"SUMMARY:Founders' Day\r\nDTSTART;VALUE=DATE:20260615\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")

    for bad, status in ((b"not a calendar", 422), (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:2026x\r\n"
                                                   b"END:VEVENT\r\nEND:VCALENDAR\r\n", 422)):
        answer = await ticketing.client.post("/v1/calendars/berlin/holidays/import", content=bad, headers=admin)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    nowhere = await ticketing.client.post("/v1/calendars/nowhere/holidays/import", content=holidays, headers=admin)
    assert nowhere.status_code == 404
    as_json = await ticketing.client.post("/v1/calendars/berlin/holidays/import", content=holidays,
                                          headers={**admin, "Content-Type": "application/json"})
    assert as_json.status_code == 415
    assert (await ticketing.client.get("/v1/calendars/berlin", headers=ticketing.staff)).json()["version"] == 1

    imported = await ticketing.client.post("/v1/calendars/berlin/holidays/import", content=holidays, headers=admin)
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert (body["holidays"], body["holidays_imported"], body["replanned_tickets"]) == (
        [{"date": "2026-06-15", "name": "Founders' Day"}], 1, 1)
    change = next(e for e in await ticketing.outbox() if e["type"] == "CalendarChanged")["data"]
    assert change["source"] == "ics_import"
    view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=ticketing.staff)).json()
    assert view["first_response_due"] == z(utc(2026, 6, 16, 10, 0))  # Monday is a holiday now: Tuesday 12:00


async def test_assigning_a_calendar_replans_the_tiers_open_tickets_onto_it(ticketing: TicketingService) -> None:
    ticketing.clock.set(utc(2026, 6, 12, 14, 0))
    ticket = await ticketing.open(priority="high", agent_id="agent-ayse")
    assert (ticket["sla_calendar"], ticket["first_response_due"]) == (None, z(utc(2026, 6, 12, 18, 0)))
    await put_calendar(ticketing, "berlin", office())
    assigned = await assign(ticketing, standard="berlin")
    assert assigned.json()["replanned_tickets"] == 1
    view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=ticketing.staff)).json()
    assert (view["sla_calendar"], view["first_response_due"]) == ("berlin", z(utc(2026, 6, 15, 10, 0)))
    back = await assign(ticketing, standard=None)
    assert back.json()["replanned_tickets"] == 1
    view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=ticketing.staff)).json()
    assert (view["sla_calendar"], view["first_response_due"]) == (None, z(utc(2026, 6, 12, 18, 0)))


async def test_daylight_saving_weekend_in_berlin_through_the_api(ticketing: TicketingService) -> None:
    await berlin_desk(ticketing)
    ticketing.clock.set(utc(2026, 3, 27, 15, 0))  # Friday 16:00 CET (UTC+1), clocks go forward on Sunday
    ticket = await ticketing.open(priority="high", agent_id="agent-ayse")
    assert ticket["first_response_due"] == z(utc(2026, 3, 30, 10, 0))  # 16-17 CET, then Monday 09-12 CEST (UTC+2)


async def test_the_back_test_accepts_a_calendar(ticketing: TicketingService) -> None:
    ticketing.clock.set(utc(2026, 6, 12, 14, 0))  # Friday 16:00 Berlin, 24/7 in force
    ticket = await ticketing.open(priority="high", agent_id="agent-ayse")
    ticketing.clock.set(utc(2026, 6, 15, 9, 0))  # Monday 11:00 Berlin: 67 h later, 3 business hours later
    await ticketing.act(ticket["id"], "comments", {"body": "Looking at it", "visibility": "public"})
    await ticketing.act(ticket["id"], "resolve", {"resolution": "Sorted"})
    await put_calendar(ticketing, "berlin", office())
    policy = (await ticketing.client.get("/v1/ticket-settings", headers=ticketing.staff)).json()["sla_policy"]

    async def simulate(**extra: Any) -> dict[str, Any]:
        answer = await ticketing.client.post("/v1/sla-policies/simulate", json={"policy": policy, **extra},
                                             headers=ticketing.staff)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    assert (await simulate())["breaches"] == 2  # 24/7: both targets passed over the weekend
    assert (await simulate(calendar="berlin"))["breaches"] == 0
    with_saturdays = office()
    with_saturdays["weekly_hours"]["saturday"] = [{"start": "10:00", "end": "16:00"}]
    # Friday 1 h + Saturday 6 h + Monday 2 h = 9 business hours: the 4 h response breached, the 24 h not.
    assert (await simulate(calendar_definition=with_saturdays))["breaches"] == 1
    missing = await ticketing.client.post("/v1/sla-policies/simulate", json={"policy": policy, "calendar": "nowhere"},
                                          headers=ticketing.staff)
    assert missing.status_code == 404
    both = await ticketing.client.post(
        "/v1/sla-policies/simulate", json={"policy": policy, "calendar": "berlin", "calendar_definition": office()},
        headers=ticketing.staff)
    assert both.status_code == 422
    starved = await ticketing.client.post(
        "/v1/sla-policies/simulate", json={"policy": policy, "calendar_definition": office([("09:00", "09:01")])},
        headers=ticketing.staff)
    assert starved.status_code == 422 and "too few working hours" in starved.json()["detail"]


async def test_a_ticket_opened_while_its_calendar_changes_counts_on_the_new_definition(
    ticketing: TicketingService,
) -> None:
    """The change holds the calendar row until it commits; the opening reads it FOR SHARE, so it waits."""
    await berlin_desk(ticketing)
    ticketing.clock.set(utc(2026, 6, 12, 14, 0))
    customer = await ticketing.a_known_customer()
    change = UnitOfWork(ticketing.pool, ticketing.store, ticketing.app.state.rows_factory)
    await change.__aenter__()
    try:
        await define_calendar(change, name="berlin", spec=schemas.CalendarBody.model_validate(
            office([("09:00", "15:00")])).to_spec(), by="lead", now=ticketing.clock.now(), expected_version=None)
        opening = asyncio.create_task(ticketing.open(priority="high", agent_id="agent-ayse", customer_id=customer))
        await eventually(ticketing.someone_waits_on_a_lock, message="the opening waits for the calendar change")
        assert not opening.done()
    finally:
        await change.__aexit__(None, None, None)
    ticket = await opening
    assert ticket["first_response_due"] == z(utc(2026, 6, 15, 11, 0))  # 09:00-15:00: Monday 09-13 local
    assert not [e for e in await ticketing.outbox(ticket["id"]) if e["type"] == "TicketSlaReplanned"]
