"""The console's Alerts page in a real browser (docs/analytics-rules.md#account-managers-alerts): a customer
gets the signed-in person as account manager, a complaint is filed through the ticketing API, the alert
appears in that person's inbox without reloading (the page polls), and Acknowledge takes it out.

The session's platform runs no alerts worker, so this test starts ``c360 worker analytics alerts`` itself
and stops exactly that process afterwards.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Platform, eventually, running_worker, screenshot
from tests.e2e.test_console import WAIT_MS, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture
def alerts_worker(platform: Platform) -> Iterator[subprocess.Popen[bytes]]:
    with running_worker(platform, "analytics", "alerts") as process:
        yield process



@pytest.mark.usefixtures("alerts_worker")
def test_an_account_manager_sees_an_alert_arrive_and_acknowledges_it(page: Any, platform: Platform) -> None:
    me = f"{platform.running.name}-tester"  # the subject of the console's token
    customer = platform.call("customer", "POST", "customers",
                    {"name": "Key Account", "email": f"key.{uuid.uuid4().hex[:8]}@example.com"})
    platform.call("customer", "PUT", f"customers/{customer['id']}/account-manager", {"account_manager_id": me})

    sign_in(page, platform)
    page.goto(f"{platform.console}/alerts")
    expect(page.get_by_role("heading", level=1)).to_have_text("Alerts", timeout=WAIT_MS)
    expect(page.get_by_label("Account manager")).to_have_value("me")

    # the manager must be known to the alerts worker before the complaint (an earlier event alerts no one)
    def managed() -> bool:
        with platform.client() as client:
            answer = client.get(f"{platform.urls['analytics']}/v1/customers/{customer['id']}/360")
        return answer.status_code == 200
    eventually(managed, timeout=WAIT_MS / 1000, what="analytics to know the customer")
    ticket = platform.call("ticketing", "POST", "tickets", {
        "customer_id": customer["id"], "kind": "complaint", "channel": "phone", "subject": "Broken delivery",
        "description": "The pallet arrived broken.", "category": "delivery"})
    row = page.locator("#alerts-board tr.alert-complaint", has=page.locator(f'a[href$="{customer["id"]}"]'))
    expect(row).to_have_count(1, timeout=WAIT_MS)  # arrived without a reload: the page polls
    expect(row).to_contain_text("A complaint was filed (delivery")
    screenshot(page, "console-alerts")

    alerts = platform.call("analytics", "GET", f"alerts?customer_id={customer['id']}&state=all")["items"]
    assert [a["kind"] for a in alerts] == ["complaint"] and alerts[0]["account_manager_id"] == me
    assert ticket["id"]
    row.get_by_role("button", name="Acknowledge").click()
    expect(row).to_have_count(0, timeout=WAIT_MS)
    done = platform.call("analytics", "GET", f"alerts?customer_id={customer['id']}&state=acknowledged")["items"]
    assert [a["acknowledged_by"] for a in done] == [me]
