"""The console's Service follow-ups page in a real browser (docs/service-messages.md): the three templates, a
wording changed and saved with the version it was read at, and a refusal (an unknown placeholder) shown
from the service's problem+json while nothing changes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Platform, screenshot
from tests.e2e.test_console import WAIT_MS, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def templates(platform: Platform) -> dict[str, Any]:
    with platform.client() as http:
        answer = http.get(f"{platform.urls['campaigns']}/v1/service-messages")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture
def wording_restored(platform: Platform) -> Iterator[dict[str, Any]]:
    """The platform is shared by the session: the templates are put back as they were."""
    before = templates(platform)
    yield before
    now = templates(platform)
    with platform.client() as http:
        answer = http.put(f"{platform.urls['campaigns']}/v1/service-messages",
                          json={"templates": [{k: t[k] for k in ("kind", "text", "channels", "enabled")}
                                              for t in before["templates"]]},
                          headers={"If-Match": f'"{now["version"]}"'})
    assert answer.status_code == 200, answer.text


def test_an_admin_rewords_a_follow_up_and_a_bad_placeholder_is_refused(
    page: Any, platform: Platform, wording_restored: dict[str, Any]
) -> None:
    sign_in(page, platform)
    page.goto(f"{platform.console}/servicemessages")
    expect(page.get_by_role("heading", level=1)).to_have_text("Service follow-ups", timeout=WAIT_MS)
    expect(page.locator("form.service-template")).to_have_count(3, timeout=WAIT_MS)

    form = page.locator('form[data-kind="complaint_resolved"]')
    form.get_by_label("Message").fill("Your complaint {ticket_ref} is resolved. Thank you for your patience.")
    form.get_by_label("email").check()
    form.get_by_label("sms").uncheck()
    form.get_by_label("push").uncheck()
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#status")).to_contain_text("Complaint resolved saved", timeout=WAIT_MS)
    saved = templates(platform)
    assert saved["version"] == wording_restored["version"] + 1
    resolved = next(t for t in saved["templates"] if t["kind"] == "complaint_resolved")
    assert (resolved["text"], resolved["channels"]) == (
        "Your complaint {ticket_ref} is resolved. Thank you for your patience.", ["email"])
    screenshot(page, "console-service-messages")

    form = page.locator('form[data-kind="refund_paid"]')
    form.get_by_label("Message").fill("We paid {amount} back to {iban}.")
    form.get_by_role("button", name="Save").click()
    expect(form.get_by_role("alert")).to_contain_text("iban", timeout=WAIT_MS)
    assert templates(platform)["version"] == saved["version"]  # the refusal changed nothing
