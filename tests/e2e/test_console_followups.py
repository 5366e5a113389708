"""Notes and follow-ups in a real browser (issue 21.1): an agent writes a note with a follow-up on the 360
page, finds it under "My follow-ups" (due first), snoozes it, completes it, and it leaves the list."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Platform, screenshot
from tests.e2e.test_console import WAIT_MS, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]



def test_an_agent_writes_a_note_with_a_follow_up_and_completes_it(page: Any, platform: Platform) -> None:
    me = f"{platform.running.name}-tester"  # the subject of the console's token
    tag = uuid.uuid4().hex[:8]
    customer = platform.call("customer", "POST", "customers",
                             {"name": "Trade Fair Contact", "email": f"fair.{tag}@example.com"})
    platform.call("customer", "POST", f"customers/{customer['id']}/notes", {
        "text": f"Earlier, due sooner {tag}", "follow_up": {"due_at": "2020-01-01T09:00:00Z", "owner": me}})

    sign_in(page, platform)
    page.goto(f"{platform.console}/customers/{customer['id']}")
    notes = page.locator("#notes")
    expect(notes).to_contain_text(f"Earlier, due sooner {tag}", timeout=WAIT_MS)

    # Blank text: the service's 422 is shown, nothing is written.
    notes.get_by_label("Note", exact=True).fill("   ")
    notes.get_by_role("button", name="Add note").click()
    expect(notes.locator("[role=alert]")).to_be_visible(timeout=WAIT_MS)

    notes.get_by_label("Note", exact=True).fill(f"Call in January about the new line {tag}")
    notes.get_by_label("Follow up by (optional)").fill("2031-01-12T09:30")
    notes.get_by_role("button", name="Add note").click()
    newest = notes.locator("tbody tr").first
    expect(newest).to_contain_text(f"Call in January about the new line {tag}", timeout=WAIT_MS)
    expect(notes.locator("tbody tr")).to_have_count(2)
    screenshot(page, "console-notes")

    page.goto(f"{platform.console}/followups")
    expect(page.get_by_role("heading", level=1)).to_have_text("My follow-ups", timeout=WAIT_MS)
    board = page.locator("#followups-board")
    mine = board.locator("tbody tr", has_text=tag)
    expect(mine).to_have_count(2, timeout=WAIT_MS)
    expect(mine.first).to_contain_text(f"Earlier, due sooner {tag}")  # due first
    expect(mine.nth(1)).to_contain_text(f"Call in January about the new line {tag}")
    screenshot(page, "console-followups")

    mine.first.get_by_role("button", name="Snooze a week").click()
    expect(mine.first).to_contain_text("snoozed", timeout=WAIT_MS)  # a week from now: still before 2031
    expect(mine.first).to_contain_text(f"Earlier, due sooner {tag}")
    mine.first.get_by_role("button", name="Complete").click()
    expect(mine).to_have_count(1, timeout=WAIT_MS)
    expect(mine.first).to_contain_text(f"Call in January about the new line {tag}")
    listed = platform.call("customer", "GET", f"follow-ups?customer_id={customer['id']}&state=done")["items"]
    assert [f["note_text"] for f in listed] == [f"Earlier, due sooner {tag}"]
    assert listed[0]["owner"] == me
