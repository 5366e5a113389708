"""The console's Marketing policy page in a real browser: see the policy, have a change refused field by
field, save a change, and import holidays from an .ics file as send blackouts (docs/marketing-policy.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Platform, screenshot
from tests.e2e.test_console import WAIT_MS, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

HOLIDAYS = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//e2e//EN\r\nBEGIN:VEVENT\r\nUID:founders\r\n"
            b"SUMMARY:Founders Day\r\nDTSTART;VALUE=DATE:20300612\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
EDITABLE = ("caps", "quiet_hours", "blackouts", "complaint_hold", "sla_breach_hold_days", "detractor_hold_days",
            "overrides")


def campaigns_api(platform: Platform, method: str, body: dict[str, Any] | None = None) -> Any:
    with platform.client() as http:
        answer = http.request(method, f"{platform.urls['campaigns']}/v1/marketing-policy", json=body)
    assert answer.status_code < 300, answer.text
    return answer.json()


@pytest.fixture
def policy_restored(platform: Platform) -> Iterator[dict[str, Any]]:
    """The platform is shared by the session: other tests' campaigns decide under the policy as it was."""
    before = campaigns_api(platform, "GET")
    yield before
    restored = {k: before[k] for k in EDITABLE}
    for window in [restored["quiet_hours"], *[o["quiet_hours"] for o in restored["overrides"]]]:
        if window:
            window["start"], window["end"] = window["start"][:5], window["end"][:5]
    campaigns_api(platform, "PUT", restored)


def test_an_admin_changes_the_marketing_policy_and_imports_holidays(page: Any, platform: Platform,
                                                                     policy_restored: dict[str, Any]) -> None:
    sign_in(page, platform)
    page.goto(f"{platform.console}/policy")
    expect(page.get_by_role("heading", level=1)).to_have_text("Marketing policy", timeout=WAIT_MS)
    expect(page.locator("#policy-current")).to_contain_text(f"{policy_restored['version']}", timeout=WAIT_MS)
    document = page.get_by_label("Policy document (caps, quiet hours, blackouts, holds, overrides)")

    wanted = {"caps": [{"channel": None, "max_messages": 3, "window_days": 7},
                       {"channel": "sms", "max_messages": -1, "window_days": 1}],
              "quiet_hours": {"start": "21:00", "end": "08:00"}, "blackouts": [], "complaint_hold": True,
              "sla_breach_hold_days": 7, "detractor_hold_days": 30, "overrides": []}
    document.fill(orjson.dumps(wanted).decode())
    page.get_by_role("button", name="Save policy").click()
    alert = page.locator("#policy-edit [role=alert]")
    expect(alert).to_contain_text("caps.1.max_messages", timeout=WAIT_MS)
    assert campaigns_api(platform, "GET")["version"] == policy_restored["version"]

    wanted["caps"][1]["max_messages"] = 1
    document.fill(orjson.dumps(wanted).decode())
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator("#status")).to_contain_text("Marketing policy saved", timeout=WAIT_MS)
    expect(page.locator("#policy-current table").first).to_contain_text("sms", timeout=WAIT_MS)

    page.get_by_label(".ics file").set_input_files(
        files=[{"name": "broken.ics", "mimeType": "text/calendar", "buffer": b"this is not a calendar"}])
    page.get_by_role("button", name="Import holidays").click()
    expect(page.locator("#policy-ics-form [role=alert]")).to_be_visible(timeout=WAIT_MS)
    page.get_by_label(".ics file").set_input_files(
        files=[{"name": "holidays.ics", "mimeType": "text/calendar", "buffer": HOLIDAYS}])
    page.get_by_role("button", name="Import holidays").click()
    expect(page.locator("#status")).to_contain_text("Holidays imported as send blackouts", timeout=WAIT_MS)
    expect(page.locator('ul.blackouts li[data-day="2030-06-12"]')).to_have_text("2030-06-12 Founders Day",
                                                                               timeout=WAIT_MS)
    assert [b["day"] for b in campaigns_api(platform, "GET")["blackouts"]] == ["2030-06-12"]
    screenshot(page, "policy")
