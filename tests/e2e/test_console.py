"""The operations console in a real browser against the real running platform."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Platform, eventually, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

WAIT_MS = 90_000


def sign_in(page: Any, platform: Platform, token: str | None = None) -> None:
    page.goto(f"{platform.console}/signin")
    page.get_by_label("Bearer token").fill(token or platform.admin_token)
    page.get_by_role("button", name="Sign in").click()


def analytics_has_caught_up(platform: Platform, customer_id: str) -> dict[str, Any] | None:
    with platform.client() as http:
        answer = http.get(f"{platform.urls['analytics']}/v1/customers/{customer_id}/360")
    if answer.status_code != 200:
        return None
    view: dict[str, Any] = answer.json()
    ready = (view["orders"]["count"] >= 1 and view["service"]["complaints_total"] >= 1
             and view["feedback"]["survey_count"] >= 1)
    return view if ready else None


def test_an_agent_finds_a_demo_customer_and_sees_orders_a_complaint_and_nps(page: Any, platform: Platform) -> None:
    customer = platform.demo_customer()
    customer_id = platform.customer_id(customer)
    eventually(lambda: analytics_has_caught_up(platform, customer_id), what="analytics to project the demo customer")

    sign_in(page, platform)
    expect(page).to_have_url(f"{platform.console}/search")
    page.get_by_label("Email").fill(customer.email)
    page.get_by_role("button", name="Search").click()
    result = page.get_by_role("link", name=customer.name)
    expect(result).to_be_visible(timeout=WAIT_MS)
    screenshot(page, "search")
    result.click()

    expect(page.get_by_role("heading", level=1)).to_have_text(customer.name, timeout=WAIT_MS)
    # The console lists pending orders first, then the newest: the plan says which order that is.
    first = min(customer.orders, key=lambda o: (o.fate not in ("placed", "shipped"), -o.placed_at.timestamp()))
    expect(page.locator("#orders tbody tr").first).to_contain_text(first.lines[0].name, timeout=WAIT_MS)
    expect(page.locator("#tickets")).to_contain_text("complaint", timeout=WAIT_MS)
    nps = next(s for s in customer.surveys if s.kind == "nps" and s.answered_at is not None)
    expect(page.locator("#feedback tbody")).to_contain_text("NPS", timeout=WAIT_MS)
    expect(page.locator("#feedback tbody")).to_contain_text(str(nps.score))
    expect(page.locator("#timeline tbody tr").first).to_be_visible()
    screenshot(page, "customer-360")


def test_a_complaint_filed_through_the_api_appears_on_the_open_page_without_a_reload(
    page: Any, platform: Platform
) -> None:
    customer = platform.demo_customer()
    customer_id = platform.customer_id(customer)
    sign_in(page, platform)
    page.goto(f"{platform.console}/customers/{customer_id}")
    expect(page.locator("#live-status")).to_have_text("Live updates: on", timeout=WAIT_MS)
    page.evaluate("window.__notReloaded = true")

    subject = f"Live complaint {uuid.uuid4().hex[:8]}"
    with platform.client() as http:
        answer = http.post(f"{platform.urls['ticketing']}/v1/tickets", json={
            "customer_id": customer_id, "kind": "complaint", "channel": "phone", "subject": subject,
            "description": "Filed by the end-to-end test.", "priority": "high", "agent_id": "agent-e2e",
        }, headers={"Idempotency-Key": subject})
    assert answer.status_code == 201, answer.text

    expect(page.locator("#tickets")).to_contain_text(subject, timeout=WAIT_MS)
    expect(page.locator("#tickets")).to_contain_text("agent-e2e")
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    screenshot(page, "customer-360-live-complaint")


def test_the_kpi_dashboard_draws_its_four_charts(page: Any, platform: Platform) -> None:
    sign_in(page, platform)
    page.get_by_role("link", name="KPIs").click()
    expect(page.locator('[data-chart-ready="true"]')).to_have_count(4, timeout=WAIT_MS)
    for chart in ("chart-nps", "chart-churn", "chart-clv", "chart-service"):
        drawn = page.evaluate(f"Boolean(window.Chart.getChart(document.querySelector('#{chart} canvas')))")
        assert drawn, f"{chart} has no Chart.js chart"
    screenshot(page, "kpis")


def test_the_service_queue_and_campaign_pages_show_live_data(page: Any, platform: Platform) -> None:
    sign_in(page, platform)
    page.get_by_role("link", name="Service queue").click()
    expect(page.get_by_role("heading", name="Service queue")).to_be_visible()
    expect(page.locator("section.panel").first).to_be_visible(timeout=WAIT_MS)
    screenshot(page, "queue")
    page.get_by_role("link", name="Campaigns").click()
    expect(page.locator("table")).to_contain_text("Welcome after the first order", timeout=WAIT_MS)
    expect(page.locator("table")).to_contain_text("active")
    screenshot(page, "campaigns")


def test_a_script_in_a_customer_name_renders_as_text(page: Any, platform: Platform) -> None:
    name = '<img src=x onerror="window.__owned=1"><script>window.__owned=2</script>'
    with platform.client() as http:
        answer = http.post(f"{platform.urls['customer']}/v1/customers", json={
            "name": name, "email": f"xss-{uuid.uuid4().hex[:8]}@e2e.example",
        })
    assert answer.status_code == 201, answer.text
    sign_in(page, platform)
    page.goto(f"{platform.console}/customers/{answer.json()['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(name, timeout=WAIT_MS)
    assert page.evaluate("window.__owned === undefined")
    assert page.locator("main img").count() == 0


def test_a_self_service_token_only_reaches_its_own_page(page: Any, platform: Platform) -> None:
    customer = platform.demo_customer()
    customer_id = platform.customer_id(customer)
    sign_in(page, platform, platform.token("self", customer_id=customer_id))
    expect(page).to_have_url(f"{platform.console}/customers/{customer_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(customer.name, timeout=WAIT_MS)
    page.goto(f"{platform.console}/search")
    expect(page).to_have_url(f"{platform.console}/customers/{customer_id}")
    expect(page.get_by_role("link", name="Service queue")).to_have_count(0)
    screenshot(page, "self-service")
