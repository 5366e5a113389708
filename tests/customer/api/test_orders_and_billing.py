"""Orders, invoices, payments and the overdue scheduler against real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from services.customer.application.overdue import emit_overdue_payments
from shared.ids import new_id
from tests.customer.api.conftest import CustomerService, an_order


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
