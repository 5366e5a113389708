"""Orders, invoices, payments and the overdue scheduler against real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from services.customer.application.overdue import emit_overdue_payments, run_overdue_scheduler
from shared.ids import new_id
from shared.settings import PlatformSettings
from shared.testing.clock import FixedClock
from shared.testing.waiting import eventually
from tests.customer.api.conftest import CustomerService, an_order, running_customer_service


async def test_placing_an_order_computes_totals_and_queues_order_placed(customer_service: CustomerService) -> None:
    customer = await customer_service.register()
    order = await customer_service.place_order(customer["id"])
    assert order["total"] == "47.48" and order["margin"] == "19.48" and order["status"] == "placed"
    assert order["lines"][0]["line_total"] == "39.98"
    event = (await customer_service.outbox())[-1]
    assert event["headers"]["ce_type"] == "customer360.customer.OrderPlaced.v1"
    assert event["headers"]["ce_streamid"] == order["id"]
    assert event["key"] == customer["id"]
    assert event["data"]["total"] == "47.48" and event["data"]["offer_code"] == "SPRING"


async def test_order_lifecycle_and_an_impossible_transition_names_the_status(
    customer_service: CustomerService,
) -> None:
    client, staff = customer_service.client, customer_service.staff
    order = await customer_service.place_order((await customer_service.register())["id"])
    url = f"/v1/orders/{order['id']}"
    early = await client.post(f"{url}/deliver", headers=staff)
    assert early.status_code == 409 and early.json()["current_status"] == "placed"
    assert (await client.post(f"{url}/ship", json={"carrier": "UPS"}, headers=staff)).json()["status"] == "shipped"
    assert (await client.post(f"{url}/deliver", headers=staff)).json()["status"] == "delivered"
    customer_service.clock.advance(timedelta(days=31))
    late = await client.post(f"{url}/return", headers=staff)
    assert late.status_code == 409
    assert (await client.get(url, headers=staff)).json()["status"] == "delivered"
    types = [e["headers"]["ce_type"].split(".")[2] for e in await customer_service.outbox()]
    assert types[-3:] == ["OrderPlaced", "OrderShipped", "OrderDelivered"]


async def test_bad_orders_are_4xx_and_change_nothing(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    customer = await customer_service.register()
    line = an_order(customer["id"])["lines"][0]
    for body, status in [
        (an_order(customer["id"], lines=[]), 422),
        (an_order(customer["id"], lines=[{**line, "quantity": 0}]), 422),
        (an_order(customer["id"], lines=[{**line, "unit_price": "-1.00"}]), 422),
        (an_order(customer["id"], lines=[{**line, "unit_price": 1.5}]), 422),
        (an_order(customer["id"], currency="euro"), 422),
        (an_order(str(new_id())), 404),
    ]:
        response = await client.post("/v1/orders", json=body, headers=staff)
        assert response.status_code == status, (body, response.text)
    assert len(await customer_service.outbox()) == 1
    assert (await client.post(f"/v1/orders/{new_id()}/ship", headers=staff)).status_code == 404


async def test_order_idempotency_key_creates_one_order(customer_service: CustomerService) -> None:
    customer = await customer_service.register()
    headers = {**customer_service.staff, "Idempotency-Key": f"o-{new_id()}"}
    body = an_order(customer["id"])
    first, second = [await customer_service.client.post("/v1/orders", json=body, headers=headers) for _ in range(2)]
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    orders = await customer_service.client.get(f"/v1/customers/{customer['id']}/orders", headers=customer_service.staff)
    assert len(orders.json()["items"]) == 1


async def test_partial_payments_add_up_and_overpayment_is_422(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    order = await customer_service.place_order((await customer_service.register())["id"])
    invoice = await client.post("/v1/invoices", json={"order_id": order["id"], "due_date": "2026-03-10"}, headers=staff)
    assert invoice.status_code == 201 and invoice.json()["amount"] == "47.48"
    again = await client.post("/v1/invoices", json={"order_id": order["id"], "due_date": "2026-03-10"}, headers=staff)
    assert again.status_code == 409
    invoice_id = invoice.json()["id"]
    first = await client.post(
        "/v1/payments", json={"invoice_id": invoice_id, "amount": "40.00", "method": "card"}, headers=staff
    )
    assert first.status_code == 201 and first.json()["outstanding"] == "7.48"
    over = await client.post(
        "/v1/payments", json={"invoice_id": invoice_id, "amount": "7.49", "method": "card"}, headers=staff
    )
    assert over.status_code == 422
    last = await client.post(
        "/v1/payments", json={"invoice_id": invoice_id, "amount": "7.48", "method": "wallet"}, headers=staff
    )
    assert last.status_code == 201
    assert (await client.get(f"/v1/invoices/{invoice_id}", headers=staff)).json()["status"] == "paid"
    paid = (await customer_service.outbox())[-1]
    assert paid["headers"]["ce_type"].endswith("PaymentReceived.v1")
    assert paid["data"]["amount_paid"] == "47.48" and paid["data"]["fully_paid"] is True


async def test_overdue_is_emitted_exactly_once_even_with_two_schedulers(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    invoices = []
    for _ in range(3):
        order = await customer_service.place_order((await customer_service.register())["id"])
        response = await client.post(
            "/v1/invoices", json={"order_id": order["id"], "due_date": "2026-03-10"}, headers=staff
        )
        invoices.append(response.json()["id"])
    await client.post(
        "/v1/payments", json={"invoice_id": invoices[2], "amount": "47.48", "method": "cash"}, headers=staff
    )
    pool, store = customer_service.app.state.pool, customer_service.app.state.store

    assert await emit_overdue_payments(pool, store, datetime(2026, 3, 10, 23, tzinfo=UTC)) == 0
    later = datetime(2026, 3, 15, tzinfo=UTC)
    counts = await asyncio.gather(emit_overdue_payments(pool, store, later), emit_overdue_payments(pool, store, later))
    assert sum(counts) == 2
    assert await emit_overdue_payments(pool, store, later + timedelta(days=5)) == 0

    overdue = [e for e in await customer_service.outbox() if e["headers"]["ce_type"].endswith("PaymentOverdue.v1")]
    assert sorted(e["data"]["invoice_id"] for e in overdue) == sorted(invoices[:2])
    assert {e["data"]["days_overdue"] for e in overdue} == {5}
    assert (await client.get(f"/v1/invoices/{invoices[0]}", headers=staff)).json()["status"] == "overdue"


async def test_cancel_and_return_follow_the_lifecycle_and_are_events(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    customer = await customer_service.register()
    placed, shipped, delivered = [await customer_service.place_order(customer["id"]) for _ in range(3)]
    await client.post(f"/v1/orders/{shipped['id']}/ship", headers=staff)
    await client.post(f"/v1/orders/{delivered['id']}/ship", headers=staff)
    await client.post(f"/v1/orders/{delivered['id']}/deliver", headers=staff)

    cancelled = await client.post(f"/v1/orders/{placed['id']}/cancel", json={"reason": "changed mind"}, headers=staff)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelled_at"] == "2026-03-01T09:00:00.000000Z"
    assert (await client.post(f"/v1/orders/{shipped['id']}/cancel", headers=staff)).json()["status"] == "cancelled"
    for order, action, current in [
        (delivered, "cancel", "delivered"),
        (placed, "ship", "cancelled"),
        (placed, "return", "cancelled"),
        (shipped, "deliver", "cancelled"),
        (delivered, "ship", "delivered"),
    ]:
        refused = await client.post(f"/v1/orders/{order['id']}/{action}", headers=staff)
        assert refused.status_code == 409, (action, refused.text)
        assert refused.json()["current_status"] == current and current in refused.json()["detail"]

    customer_service.clock.advance(timedelta(days=30))
    returned = await client.post(f"/v1/orders/{delivered['id']}/return", json={"reason": "broken"}, headers=staff)
    assert returned.status_code == 200 and returned.json()["status"] == "returned"
    assert (await client.post(f"/v1/orders/{delivered['id']}/return", headers=staff)).status_code == 409

    events = [
        e
        for e in await customer_service.outbox()
        if e["headers"]["ce_type"].split(".")[2] in ("OrderCancelled", "OrderReturned")
    ]
    assert [(e["headers"]["ce_type"], e["headers"]["ce_streamid"], e["key"]) for e in events] == [
        ("customer360.customer.OrderCancelled.v2", placed["id"], customer["id"]),
        ("customer360.customer.OrderCancelled.v2", shipped["id"], customer["id"]),
        ("customer360.customer.OrderReturned.v2", delivered["id"], customer["id"]),
    ]
    # The free-text reasons are personal data: sealed under the customer's key, never plain text.
    assert events[0]["data"]["reason"].startswith("enc:v1:") and events[2]["data"]["reason"].startswith("enc:v1:")
    assert events[1]["data"]["reason"] is None
    assert "changed mind" not in str(events) and "broken" not in str(events)
    assert events[0]["data"]["total"] == "47.48" and events[0]["data"]["currency"] == "EUR"
    assert events[2]["data"]["refund_amount"] == "47.48"
    assert events[2]["data"]["returned_at"] == "2026-03-31T09:00:00Z"
    assert (
        await client.post(f"/v1/orders/{placed['id']}/cancel", headers=customer_service.token("customers:read"))
    ).status_code == 403


async def test_the_return_window_is_configurable(
    make_database: Callable[..., Awaitable[str]], platform_settings: PlatformSettings
) -> None:
    async with running_customer_service(make_database, platform_settings, return_window_days=7) as service:
        client, staff = service.client, service.staff
        customer = await service.register()
        orders = [await service.place_order(customer["id"]) for _ in range(2)]
        for order in orders:
            await client.post(f"/v1/orders/{order['id']}/ship", headers=staff)
            await client.post(f"/v1/orders/{order['id']}/deliver", headers=staff)
        service.clock.advance(timedelta(days=7))
        assert (await client.post(f"/v1/orders/{orders[0]['id']}/return", headers=staff)).status_code == 200
        service.clock.advance(timedelta(seconds=1))
        late = await client.post(f"/v1/orders/{orders[1]['id']}/return", headers=staff)
        assert late.status_code == 409 and "7 days" in late.json()["detail"]
        assert late.json()["current_status"] == "delivered"


async def test_customer_orders_filter_by_status_and_paginate_newest_first(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    customer = await customer_service.register()
    other = await customer_service.register()
    await customer_service.place_order(other["id"])
    placed = []
    for step in range(5):  # two share a placed_at: the id breaks the tie
        if step != 2:
            customer_service.clock.advance(timedelta(minutes=1))
        placed.append(await customer_service.place_order(customer["id"]))
    for order in placed[:2]:
        await client.post(f"/v1/orders/{order['id']}/cancel", headers=staff)
    newest_first = sorted(placed, key=lambda o: (o["placed_at"], o["id"]), reverse=True)

    url = f"/v1/customers/{customer['id']}/orders"
    seen, cursor = [], None
    while True:
        params: dict[str, object] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(url, params=params, headers=staff)).json()
        assert len(page["items"]) <= 2
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [o["id"] for o in newest_first]

    cancelled = (await client.get(url, params={"status": "cancelled"}, headers=staff)).json()
    assert {o["id"] for o in cancelled["items"]} == {o["id"] for o in placed[:2]}
    assert all(o["status"] == "cancelled" for o in cancelled["items"])
    still_placed = (await client.get(url, params={"status": "placed", "limit": 1}, headers=staff)).json()
    assert [o["id"] for o in still_placed["items"]] == [newest_first[0]["id"]] and still_placed["next_cursor"]
    assert (await client.get(url, params={"status": "lost"}, headers=staff)).status_code == 422
    assert (await client.get(url, params={"cursor": "nope"}, headers=staff)).status_code == 422
    assert (await client.get(f"/v1/customers/{new_id()}/orders", headers=staff)).status_code == 404
    got = await client.get(f"/v1/orders/{placed[0]['id']}", headers=staff)
    assert got.json()["status"] == "cancelled" and got.headers["ETag"] == '"2"'
    assert (await client.get(f"/v1/orders/{new_id()}", headers=staff)).status_code == 404


async def test_currency_must_be_an_iso_4217_code(customer_service: CustomerService) -> None:
    customer = await customer_service.register()
    for currency in ("ABC", "XXX", "eur"):
        response = await customer_service.client.post(
            "/v1/orders", json=an_order(customer["id"], currency=currency), headers=customer_service.staff
        )
        assert response.status_code == 422, currency
    assert (await customer_service.place_order(customer["id"], currency="TRY"))["currency"] == "TRY"


async def test_concurrent_orders_with_one_idempotency_key_create_one_order(customer_service: CustomerService) -> None:
    customer = await customer_service.register()
    headers = {**customer_service.staff, "Idempotency-Key": f"o-{new_id()}"}
    body = an_order(customer["id"])
    responses = await asyncio.gather(
        *(customer_service.client.post("/v1/orders", json=body, headers=headers) for _ in range(4))
    )
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 3
    placed = [e for e in await customer_service.outbox() if e["headers"]["ce_type"].endswith("OrderPlaced.v1")]
    assert len(placed) == 1
    changed = await customer_service.client.post(
        "/v1/orders", json=an_order(customer["id"], currency="TRY"), headers=headers
    )
    assert changed.status_code == 422


async def test_invoice_event_and_billing_refusals(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    customer = await customer_service.register()
    order = await customer_service.place_order(customer["id"])
    cancelled = await customer_service.place_order(customer["id"])
    await client.post(f"/v1/orders/{cancelled['id']}/cancel", headers=staff)

    issued = await client.post("/v1/invoices", json={"order_id": order["id"], "due_date": "2026-03-10"}, headers=staff)
    assert issued.status_code == 201
    invoice = issued.json()
    assert issued.headers["Location"] == f"/v1/invoices/{invoice['id']}"
    assert (invoice["status"], invoice["outstanding"], invoice["customer_id"]) == ("open", "47.48", customer["id"])
    event = (await customer_service.outbox())[-1]
    assert event["headers"]["ce_type"] == "customer360.customer.InvoiceIssued.v1"
    assert event["key"] == customer["id"] and event["headers"]["ce_streamid"] == invoice["id"]
    assert event["data"]["order_id"] == order["id"] and event["data"]["amount"] == "47.48"
    assert event["data"]["due_date"] == "2026-03-10" and event["data"]["currency"] == "EUR"

    before = len(await customer_service.outbox())
    for body, status in [
        ({"order_id": str(new_id()), "due_date": "2026-03-10"}, 404),
        ({"order_id": cancelled["id"], "due_date": "2026-03-10"}, 409),
        ({"order_id": order["id"], "due_date": "tomorrow"}, 422),
    ]:
        assert (await client.post("/v1/invoices", json=body, headers=staff)).status_code == status, body
    for body, status in [
        ({"invoice_id": str(new_id()), "amount": "1.00", "method": "card"}, 404),
        ({"invoice_id": invoice["id"], "amount": "1.00", "method": "cheque"}, 422),
        ({"invoice_id": invoice["id"], "amount": "0.00", "method": "card"}, 422),
        ({"invoice_id": invoice["id"], "amount": 1.0, "method": "card"}, 422),
        ({"invoice_id": invoice["id"], "amount": "47.49", "method": "card"}, 422),
    ]:
        response = await client.post("/v1/payments", json=body, headers=staff)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert len(await customer_service.outbox()) == before
    assert (await client.get(f"/v1/invoices/{new_id()}", headers=staff)).status_code == 404
    self_token = customer_service.token("self", customer_id=customer["id"])
    paying = {"invoice_id": invoice["id"], "amount": "1.00", "method": "card"}
    assert (await client.post("/v1/payments", json=paying, headers=self_token)).status_code == 403


async def test_a_retried_payment_with_its_idempotency_key_is_paid_once(customer_service: CustomerService) -> None:
    client, staff = customer_service.client, customer_service.staff
    order = await customer_service.place_order((await customer_service.register())["id"])
    invoice = (
        await client.post("/v1/invoices", json={"order_id": order["id"], "due_date": "2026-03-10"}, headers=staff)
    ).json()
    headers = {**staff, "Idempotency-Key": f"p-{new_id()}"}
    body = {"invoice_id": invoice["id"], "amount": "30.00", "method": "transfer"}
    first, second = [await client.post("/v1/payments", json=body, headers=headers) for _ in range(2)]
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second.headers["Idempotent-Replayed"] == "true"
    assert (await client.get(f"/v1/invoices/{invoice['id']}", headers=staff)).json()["paid"] == "30.00"
    [payment] = [e for e in await customer_service.outbox() if e["headers"]["ce_type"].endswith("PaymentReceived.v1")]
    assert payment["data"]["payment_id"] == first.json()["id"]
    assert (payment["data"]["amount"], payment["data"]["outstanding"], payment["data"]["fully_paid"]) == (
        "30.00",
        "17.48",
        False,
    )
    assert payment["data"]["method"] == "transfer" and payment["data"]["days_late"] == 0


class CountingClock(FixedClock):
    """A fixed clock that counts its readings: the scheduler reads it once at the start of each tick."""

    readings = 0

    def now(self) -> datetime:
        self.readings += 1
        return super().now()


async def test_the_running_scheduler_reports_overdue_once_on_its_controllable_clock(
    customer_service: CustomerService,
) -> None:
    client, staff = customer_service.client, customer_service.staff
    order = await customer_service.place_order((await customer_service.register())["id"])
    invoice = (
        await client.post("/v1/invoices", json={"order_id": order["id"], "due_date": "2026-03-10"}, headers=staff)
    ).json()
    pool, store = customer_service.app.state.pool, customer_service.app.state.store
    clock = CountingClock(datetime(2026, 3, 10, 12, tzinfo=UTC))
    stop = asyncio.Event()

    async def readings() -> int:
        return clock.readings

    async def ticks_done(n: int) -> None:
        """Wait until ``n`` whole ticks ran from now (tick k is done once tick k + 1 read the clock)."""
        start = clock.readings
        await eventually(readings, until=lambda r: r >= start + n + 1, message=f"{n} scheduler ticks")

    async def overdue_events() -> list[dict[str, Any]]:
        return [e for e in await customer_service.outbox() if e["headers"]["ce_type"].endswith("PaymentOverdue.v1")]

    scheduler = asyncio.create_task(run_overdue_scheduler(pool, store, clock, stop, interval_seconds=0.01))
    try:
        await ticks_done(3)
        assert await overdue_events() == []  # due today: not overdue yet
        clock.set(datetime(2026, 3, 12, 8, tzinfo=UTC))
        [event] = await eventually(overdue_events, message="PaymentOverdue")
        clock.advance(timedelta(days=10))
        await ticks_done(3)
        assert await overdue_events() == [event]
    finally:
        stop.set()
        await scheduler
    assert event["key"] == order["customer_id"] and event["headers"]["ce_streamid"] == invoice["id"]
    assert event["data"]["days_overdue"] == 2 and event["data"]["outstanding"] == "47.48"
    assert event["data"]["detected_at"] == "2026-03-12T08:00:00Z"
    customer_service.clock.set(datetime(2026, 3, 21, tzinfo=UTC))
    paid_late = await client.post(
        "/v1/payments", json={"invoice_id": invoice["id"], "amount": "47.48", "method": "card"}, headers=staff
    )
    assert paid_late.status_code == 201
    assert (await customer_service.outbox())[-1]["data"]["days_late"] == 11
    assert (await client.get(f"/v1/invoices/{invoice['id']}", headers=staff)).json()["status"] == "paid"
