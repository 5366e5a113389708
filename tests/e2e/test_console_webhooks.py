"""The console's Webhooks page in a real browser (docs/webhooks.md): create a subscription and see its
secret once, have a bad one refused field by field, see deliveries reach a real HTTP receiver (signed with
that secret), rotate the secret, disable and re-enable, replay from an instant, and see a failing
endpoint's dead letters.

The session's platform runs no webhook worker (it would route the demo's whole history for nothing), so
this test starts ``c360 worker analytics webhooks`` itself, with two attempts per delivery and short
waits, and stops exactly that process afterwards. The receiver is a real HTTP server in this process.
"""

from __future__ import annotations

import http.server
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from playwright.sync_api import expect
from standardwebhooks import Webhook

from shared.testing.waiting import eventually_answered
from tests.e2e.conftest import Platform, running_worker, screenshot
from tests.e2e.test_console import WAIT_MS, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

WORKER_ENV = {
    "ANALYTICS_WEBHOOK_MAX_ATTEMPTS": "2",
    "ANALYTICS_WEBHOOK_RETRY_INITIAL_SECONDS": "0.3",
    "ANALYTICS_WEBHOOK_POLL_SECONDS": "0.5",
}


class Receiver(http.server.ThreadingHTTPServer):
    """Answers 200 on ``/ok`` and 500 on ``/fail``, and keeps every request (path, headers, body)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[tuple[str, dict[str, str], bytes]] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def at(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for p, headers, body in list(self.received) if p == path]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200 if self.path == "/ok" else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture
def webhook_worker(platform: Platform) -> Iterator[subprocess.Popen[bytes]]:
    with running_worker(platform, "analytics", "webhooks", WORKER_ENV) as process:
        yield process



def place_order(platform: Platform, customer_id: str) -> None:
    platform.call("customer", "POST", "orders", {
        "customer_id": customer_id, "currency": "EUR", "channel": "web",
        "lines": [{"sku": "HOOK-1", "name": "Hook", "category": "garden", "quantity": 1, "unit_price": "12.50"}]})


def refreshed_until(page: Any, rows: str, what: str, count: int = 1) -> None:
    """Click the subscription's Refresh until ``count`` rows match ``rows`` (the page does not poll)."""
    def shown() -> bool:
        page.get_by_role("button", name="Refresh").click()
        page.wait_for_timeout(300)
        return bool(page.locator(rows).count() >= count)
    eventually_answered(shown, timeout=WAIT_MS / 1000, what=what, interval=1.0)


def subscriptions_to(platform: Platform, url: str) -> list[dict[str, Any]]:
    items = platform.call("analytics", "GET", "webhooks/subscriptions?limit=200")["items"]
    return [s for s in items if s["url"] == url]


@pytest.mark.usefixtures("webhook_worker")
def test_an_admin_manages_a_webhook_subscription_from_the_console(page: Any, platform: Platform,
                                                                   receiver: Receiver) -> None:
    tag = uuid.uuid4().hex[:8]
    customer = platform.call("customer", "POST", "customers", {
        "name": f"Hook Person {tag}", "email": f"hook.{tag}@example.com", "phone": "+905551000777",
        "acquisition_channel": "web", "relationship_type": "long_term", "consents": {"email": True}})
    customer_id = str(customer["id"])
    only_this_customer = orjson.dumps([{"field": "customer_id", "op": "eq", "value": customer_id}]).decode()

    sign_in(page, platform)
    page.goto(f"{platform.console}/webhooks")
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks", timeout=WAIT_MS)
    form = page.locator("#webhook-create")

    # A subscription the service refuses: the problem is shown field by field, nothing is created.
    form.get_by_label("Endpoint URL").fill(receiver.url("/ok"))
    form.get_by_label("Event types").fill("NoSuchEvent")
    form.get_by_role("button", name="Create subscription").click()
    expect(form.locator("[role=alert]")).to_contain_text("event_types", timeout=WAIT_MS)
    assert not subscriptions_to(platform, receiver.url("/ok"))

    # Created: the secret is shown once, the subscription is listed and opened.
    form.get_by_label("Event types").fill("OrderPlaced")
    form.get_by_label("Filter (JSON conditions)").fill(only_this_customer)
    form.get_by_label("Description").fill(f"e2e {tag}")
    form.get_by_role("button", name="Create subscription").click()
    expect(page.locator("#status")).to_contain_text("Webhook subscription created", timeout=WAIT_MS)
    secret = page.locator("#webhook-secret-value").inner_text()
    assert secret.startswith("whsec_")
    expect(page.locator("#webhook-list")).to_contain_text(receiver.url("/ok"))
    detail = page.locator("#webhook-detail")
    expect(detail).to_contain_text("never sent", timeout=WAIT_MS)  # personal data not allowed

    # A delivery reaches the receiver, signed with the secret shown, and the log shows the attempt.
    ordered_before = datetime.now(UTC) - timedelta(seconds=1)
    place_order(platform, customer_id)
    refreshed_until(page, "#webhook-deliveries tr.delivery-delivered", "the order's delivery in the log")
    expect(detail.locator("#webhook-deliveries")).to_contain_text("HTTP 200 in")
    headers, body = receiver.at("/ok")[0]
    Webhook(secret).verify(body, headers)
    assert orjson.loads(body)["subject"] == customer_id

    # Rotate: a new secret, shown once; the old one keeps signing for the grace period.
    detail.get_by_role("button", name="Rotate secret").click()
    expect(page.locator("#status")).to_contain_text("Signing secret rotated", timeout=WAIT_MS)
    expect(page.locator("#webhook-secret-value")).not_to_have_text(secret)
    rotated = page.locator("#webhook-secret-value").inner_text()
    assert rotated.startswith("whsec_") and rotated != secret
    expect(detail).to_contain_text("The previous secret keeps signing until")

    # Disable and enable again.
    detail.get_by_role("button", name="Disable").click()
    expect(page.locator("#status")).to_contain_text("Subscription disabled", timeout=WAIT_MS)
    assert subscriptions_to(platform, receiver.url("/ok"))[0]["status"] == "disabled"
    detail.get_by_role("button", name="Enable").click()
    expect(page.locator("#status")).to_contain_text("Subscription enabled", timeout=WAIT_MS)
    assert subscriptions_to(platform, receiver.url("/ok"))[0]["status"] == "active"

    # A bad instant is refused; a replay from before the order sends it again.
    detail.get_by_label("Replay every wanted event since").fill("yesterday")
    detail.get_by_role("button", name="Start replay").click()
    expect(detail.locator("#webhook-outcome [role=alert]")).to_contain_text("since", timeout=WAIT_MS)
    detail.get_by_label("Replay every wanted event since").fill(ordered_before.isoformat())
    detail.get_by_role("button", name="Start replay").click()
    expect(page.locator("#status")).to_contain_text("Replay", timeout=WAIT_MS)
    refreshed_until(page, "#webhook-replays tr.replay-done", "the replay to finish")
    refreshed_until(page, "#webhook-deliveries tr.delivery-delivered", "the replayed delivery in the log", count=2)
    expect(page.locator("#webhook-deliveries tr.delivery-delivered").first).to_contain_text("replay")
    eventually_answered(lambda: len(receiver.at("/ok")) >= 2, timeout=WAIT_MS / 1000, what="the replayed delivery")
    replayed_headers, replayed_body = receiver.at("/ok")[1]
    Webhook(rotated).verify(replayed_body, replayed_headers)

    # An endpoint that always fails: after the last attempt its delivery is a dead letter.
    page.goto(f"{platform.console}/webhooks")
    form = page.locator("#webhook-create")
    form.get_by_label("Endpoint URL").fill(receiver.url("/fail"))
    form.get_by_label("Event types").fill("OrderPlaced")
    form.get_by_label("Filter (JSON conditions)").fill(only_this_customer)
    form.get_by_role("button", name="Create subscription").click()
    expect(page.locator("#status")).to_contain_text("Webhook subscription created", timeout=WAIT_MS)
    place_order(platform, customer_id)
    refreshed_until(page, "#webhook-dead-letters tr.delivery-dead", "the failing delivery to be dead-lettered")
    dead = page.locator("#webhook-dead-letters")
    expect(dead).to_contain_text("HTTP 500 in")
    expect(dead.get_by_role("button", name="Redeliver dead letters")).to_be_visible()
    assert len(receiver.at("/fail")) == 2  # both attempts reached the receiver
    screenshot(page, "webhooks")
