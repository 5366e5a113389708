"""The console's Calendars page in a real browser: define a business-hours calendar, import holidays from an
.ics file, see the service's refusals field by field, and assign a tier's calendar (docs/calendars.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Platform, screenshot
from tests.e2e.test_console import WAIT_MS, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

TIER = "dedicated_assistance"
HOLIDAYS = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//e2e//EN\r\nBEGIN:VEVENT\r\nUID:founders\r\n"
            b"SUMMARY:Founders Day\r\nDTSTART;VALUE=DATE:20300612\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def ticketing_api(platform: Platform, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    with platform.client() as http:
        answer = http.request(method, f"{platform.urls['ticketing']}/v1/{path}", json=body)
    assert answer.status_code < 300, answer.text
    return answer.json()


@pytest.fixture
def tier_restored(platform: Platform) -> Iterator[None]:
    """The platform is shared by the session: the tier counts 24/7 again afterwards."""
    yield
    ticketing_api(platform, "PUT", "sla-policies/calendars", {"tiers": {TIER: None}})


def definition(time_zone: str = "Europe/Berlin") -> str:
    week = {d: [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]
            for d in ("monday", "tuesday", "wednesday", "thursday", "friday")}
    return orjson.dumps({"time_zone": time_zone, "weekly_hours": week}).decode()


@pytest.mark.usefixtures("tier_restored")
def test_an_admin_defines_a_calendar_imports_holidays_and_assigns_it_to_a_tier(page: Any, platform: Platform) -> None:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    sign_in(page, platform)
    page.goto(f"{platform.console}/calendars")
    expect(page.get_by_role("heading", level=1)).to_have_text("Business-hours calendars", timeout=WAIT_MS)

    # A calendar the service refuses: the problem's detail and field are shown, nothing is created.
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Definition (time zone, weekly hours, holidays, exceptions)").fill(definition("Mars/Base"))
    page.get_by_role("button", name="Save calendar").click()
    alert = page.locator("#define [role=alert]")
    expect(alert).to_contain_text("unknown time zone", timeout=WAIT_MS)
    expect(alert).to_contain_text("field: time_zone")
    assert not [c for c in ticketing_api(platform, "GET", "calendars")["items"] if c["name"] == name]

    page.get_by_label("Definition (time zone, weekly hours, holidays, exceptions)").fill(definition())
    page.get_by_role("button", name="Save calendar").click()
    expect(page.locator("#status")).to_contain_text(f"Calendar defined: {name}", timeout=WAIT_MS)
    card = page.locator(f'[data-calendar="{name}"]')
    expect(card.locator('td[data-day="monday"]')).to_have_text("09:00-12:00, 13:00-17:00", timeout=WAIT_MS)
    expect(card.locator('td[data-day="saturday"]')).to_have_text("closed")

    # A malformed .ics is refused; a real one adds its holiday.
    card.get_by_label(".ics file").set_input_files(
        files=[{"name": "broken.ics", "mimeType": "text/calendar", "buffer": b"this is not a calendar"}])
    card.get_by_role("button", name="Import holidays").click()
    expect(card.locator("[role=alert]")).to_contain_text("cannot be used", timeout=WAIT_MS)
    card.get_by_label(".ics file").set_input_files(
        files=[{"name": "holidays.ics", "mimeType": "text/calendar", "buffer": HOLIDAYS}])
    card.get_by_role("button", name="Import holidays").click()
    expect(page.locator("#status")).to_contain_text("1 holiday dates read", timeout=WAIT_MS)
    card = page.locator(f'[data-calendar="{name}"]')
    expect(card.locator("ul.holidays")).to_contain_text("2030-06-12 Founders Day", timeout=WAIT_MS)

    page.get_by_label(f"Tier {TIER}").select_option(name)
    page.get_by_role("button", name="Assign calendars").click()
    expect(page.locator("#status")).to_contain_text("Tier calendars saved", timeout=WAIT_MS)
    expect(page.locator(f'[data-calendar="{name}"]')).to_contain_text("tier dedicated assistance", timeout=WAIT_MS)
    assert ticketing_api(platform, "GET", "sla-policies/calendars")["tiers"][TIER] == name
    screenshot(page, "calendars")
