"""Surveys that ask why, end to end on the running platform (real Kafka, PostgreSQL, every process) and in a
real browser: a customer answers the score and then the reason, the reason travels sealed from campaigns
through campaigns.events to analytics (which opens it with the customer's key), the console's NPS page
shows its words, and erasing the customer takes them out again (docs/surveys.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Platform, eventually, screenshot
from tests.e2e.test_console import WAIT_MS, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]



def detractor_terms(platform: Platform) -> dict[str, int]:
    today = datetime.now(UTC)
    window = {"from": (today - timedelta(days=1800)).strftime("%Y-%m-%dT00:00:00Z"),
              "to": (today + timedelta(days=1800)).strftime("%Y-%m-%dT00:00:00Z"), "top": "50",
              "period": "year"}
    body = platform.call("analytics", "GET", "kpis/nps/reasons?" + str(httpx.QueryParams(window)))
    return {t["term"]: t["mentions"] for t in body["reasons"]["detractor"]["top"]}


def test_a_reason_reaches_the_nps_page_sealed_and_leaves_it_on_erasure(page: Any, platform: Platform) -> None:
    word = "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:10])  # letters only: one term
    customer = platform.call("customer", "POST", "customers",
                    {"name": "Survey Person", "email": f"survey.{word}@example.com", "consents": {"email": True}})
    survey = platform.call("campaigns", "POST", "surveys", {"customer_id": customer["id"], "kind": "nps"})
    assert [q["id"] for q in survey["questions"]] == ["score", "reason"]
    public = httpx.Client(timeout=30.0)
    scored = public.post(f"{platform.urls['campaigns']}/v1/surveys/{survey['id']}/responses",
                         json={"token": survey["response_token"], "score": 2})
    assert scored.status_code == 201, scored.text
    reason = public.post(f"{platform.urls['campaigns']}/v1/surveys/{survey['id']}/answers",
                         json={"token": survey["response_token"], "question_id": "reason",
                               "text": f"The {word} courier never came"})
    assert reason.status_code == 201, reason.text
    public.close()

    eventually(lambda: detractor_terms(platform).get(f"{word} courier") == 1, timeout=WAIT_MS / 1000,
               what="analytics to group the reason")

    sign_in(page, platform)
    page.goto(f"{platform.console}/nps")
    expect(page.get_by_role("heading", level=1)).to_have_text("NPS and why", timeout=WAIT_MS)
    page.get_by_label("Terms per band", exact=True).fill("50")
    page.get_by_label("Period", exact=True).select_option("year")
    page.get_by_role("button", name="Show").click()
    overall = page.locator("#nps-overall tr.band-detractor")
    expect(overall.locator(f'li[data-term="{word} courier"]')).to_contain_text("(1)", timeout=WAIT_MS)
    screenshot(page, "console-nps-reasons")

    platform.call("customer", "DELETE", f"customers/{customer['id']}")
    eventually(lambda: word not in " ".join(detractor_terms(platform)), timeout=WAIT_MS / 1000,
               what="the erasure to take the reason out of analytics")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#nps-overall")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(f'li[data-term="{word}"]')).to_have_count(0, timeout=WAIT_MS)
