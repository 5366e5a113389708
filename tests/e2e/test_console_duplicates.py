"""The console's Duplicates page in a real browser: suggested pairs with their evidence, consent-safe
merges (two verified identities only with the explicit confirmation) and the duplicate rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Platform, screenshot
from tests.e2e.test_console import WAIT_MS, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DEFAULT_RULES = {"email": True, "email_canonical": True, "phone": True, "name": True, "name_threshold": 0.85}


def customer_api(platform: Platform, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    with platform.client() as http:
        answer = http.request(method, f"{platform.urls['customer']}/v1/{path}", json=body)
    assert answer.status_code < 300, answer.text
    return answer.json()


def register(platform: Platform, name: str, email: str, birth_date: str, consents: dict[str, bool]) -> str:
    body = {"name": name, "email": email, "birth_date": birth_date, "consents": consents}
    return str(customer_api(platform, "POST", "customers", body)["id"])


def pair_row(page: Any, one: str, other: str) -> Any:
    """The row of the pair (listed with the smaller id first), paging through "More pairs" until it shows."""
    low, high = sorted((one, other))
    row = page.locator(f'tr[data-pair="{low}:{high}"]')
    expect(page.locator("#pairs tbody tr").first).to_be_visible(timeout=WAIT_MS)
    while row.count() == 0:
        more = page.locator("#more-pairs")
        expect(more).to_be_visible(timeout=WAIT_MS)
        more.click()
        page.wait_for_function(f"document.querySelector('tr[data-pair=\"{low}:{high}\"]') !== null"
                               " || document.getElementById('more-pairs') !== null", timeout=WAIT_MS)
    return row


def keep(row: Any, survivor: str, duplicate: str) -> None:
    """Choose the survivor in the row's merge form (the pair lists the smaller id as its first record)."""
    row.get_by_role("button", name="Merge…").click()
    row.get_by_label("Survivor").select_option("a" if survivor < duplicate else "b")


@pytest.fixture
def rules_restored(platform: Platform) -> Iterator[None]:
    """The platform is shared by the session: put the default duplicate rules back afterwards."""
    yield
    customer_api(platform, "PUT", "duplicate-rules", DEFAULT_RULES)


@pytest.mark.usefixtures("rules_restored")
def test_an_operator_reviews_pairs_merges_consent_safely_and_edits_the_rules(page: Any, platform: Platform) -> None:
    tag = uuid.uuid4().hex[:8]
    born = "1961-07-14"
    # One person twice: the same Gmail mailbox written two ways, the name in two orders, one birth date.
    # The survivor granted email long ago; the other record withdrew it.
    deniz = register(platform, "Deniz Kaya", f"deniz.kaya.{tag}@gmail.com", born, {"email": True, "sms": True})
    kaya = register(platform, "Kaya Deniz", f"denizkaya.{tag}+shop@gmail.com", born, {"email": False, "sms": True})
    # Two records that each proved their email: merging them needs the operator's explicit confirmation.
    ece = register(platform, "Ece Yilmaz", f"ece.yilmaz.{tag}@gmail.com", born, {"email": True})
    yilmaz = register(platform, "Yilmaz Ece", f"eceyilmaz.{tag}@gmail.com", born, {"email": True})
    for verified in (ece, yilmaz):
        customer_api(platform, "POST", f"customers/{verified}/verifications", {"channel": "email", "method": "link"})

    sign_in(page, platform)
    page.get_by_role("link", name="Duplicates").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Duplicate customers")

    row = pair_row(page, deniz, kaya)
    for evidence in ("email", "name", "birth date", "name similarity 1.00", "Deniz Kaya", "Kaya Deniz"):
        expect(row).to_contain_text(evidence)
    keep(row, deniz, kaya)
    expect(row.locator(".merge-preview")).to_contain_text("email: yes → no")
    row.get_by_label("Reason").fill("same person, same mailbox")
    screenshot(page, "duplicates-merge-form")
    row.get_by_role("button", name="Merge", exact=True).click()
    expect(row).to_contain_text("Consent narrowed: email.", timeout=WAIT_MS)
    assert customer_api(platform, "GET", f"customers/{deniz}")["consents"]["email"] is False
    assert customer_api(platform, "GET", f"customers/{kaya}")["merged_into"] == deniz

    verified = pair_row(page, ece, yilmaz)
    expect(verified).to_contain_text("both verified identities")
    expect(verified).to_contain_text("verified email")
    keep(verified, ece, yilmaz)
    verified.get_by_label("Reason").fill("same person")
    verified.get_by_role("button", name="Merge", exact=True).click()
    refusal = verified.get_by_role("alert")
    expect(refusal).to_contain_text("both verified identities", timeout=WAIT_MS)
    expect(refusal).to_contain_text("confirm_verified_identities")
    screenshot(page, "duplicates-verified-refused")
    assert customer_api(platform, "GET", f"customers/{yilmaz}")["merged_into"] is None
    verified.get_by_label("I confirmed both verified identities are one person").check()
    verified.get_by_role("button", name="Merge", exact=True).click()
    expect(verified).to_contain_text("Merged", timeout=WAIT_MS)
    assert customer_api(platform, "GET", f"customers/{yilmaz}")["merged_into"] == ece

    rules = page.locator("#rules")
    before = customer_api(platform, "GET", "duplicate-rules")["version"]
    threshold = rules.get_by_label("Name similarity threshold")
    threshold.fill("1.5")
    rules.get_by_role("button", name="Save rules").click()
    expect(rules.get_by_role("alert")).to_contain_text("name_threshold: Input should be less than or equal to 1")
    expect(threshold).to_have_attribute("aria-invalid", "true")
    for flag in ("Same email", "Same phone", "Similar name"):
        rules.get_by_label(flag, exact=True).uncheck()
    threshold.fill("0.9")
    rules.get_by_role("button", name="Save rules").click()
    expect(rules.get_by_role("alert")).to_contain_text("at least one identifier")
    screenshot(page, "duplicates-rules-refused")
    assert customer_api(platform, "GET", "duplicate-rules")["version"] == before

    rules.get_by_label("Similar name", exact=True).check()
    rules.get_by_role("button", name="Save rules").click()
    expect(rules.locator("#rules-version")).to_have_text(f"Version {before + 1}.", timeout=WAIT_MS)
    saved = customer_api(platform, "GET", "duplicate-rules")
    assert {k: saved[k] for k in DEFAULT_RULES} == {**DEFAULT_RULES, "email": False, "phone": False,
                                                    "name_threshold": 0.9}
    expect(page.locator("#pairs-rules-version")).to_contain_text(f"version {before + 1}", timeout=WAIT_MS)
