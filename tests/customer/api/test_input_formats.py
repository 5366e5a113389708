"""Dates, instants and money in customer requests: the exact shapes the OpenAPI document states, nothing looser."""

from __future__ import annotations

import pytest

from tests.customer.api.conftest import CustomerService, a_customer, an_order


@pytest.mark.parametrize("birth_date", ["1990-01-01T00:00:00", "1990-01-01T00:00:00Z", "19900101", 631152000])
async def test_a_birth_date_that_is_not_a_plain_calendar_date_is_a_422(
    customer_service: CustomerService, birth_date: object
) -> None:
    response = await customer_service.client.post(
        "/v1/customers", json=a_customer(birth_date=birth_date), headers=customer_service.staff
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["body", "birth_date"]
    assert await customer_service.outbox() == []


async def test_a_calendar_birth_date_is_kept_as_sent(customer_service: CustomerService) -> None:
    created = await customer_service.register(birth_date="1990-01-31")
    assert created["birth_date"] == "1990-01-31"


async def test_changing_a_birth_date_to_a_datetime_is_a_422_and_changes_nothing(
    customer_service: CustomerService,
) -> None:
    created = await customer_service.register(birth_date="1990-01-31")
    response = await customer_service.client.patch(
        f"/v1/customers/{created['id']}", json={"birth_date": "1990-02-01T00:00:00"}, headers=customer_service.staff
    )
    assert response.status_code == 422, response.text
    fetched = await customer_service.client.get(f"/v1/customers/{created['id']}", headers=customer_service.staff)
    assert (fetched.json()["birth_date"], fetched.json()["version"]) == ("1990-01-31", created["version"])


async def test_an_invoice_due_date_with_a_time_is_a_422(customer_service: CustomerService) -> None:
    customer = await customer_service.register()
    order = await customer_service.place_order(customer["id"])
    response = await customer_service.client.post(
        "/v1/invoices", json={"order_id": order["id"], "due_date": "2030-01-01T00:00:00"},
        headers=customer_service.staff,
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "due_date"]
    accepted = await customer_service.client.post(
        "/v1/invoices", json={"order_id": order["id"], "due_date": "2030-01-01"}, headers=customer_service.staff
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["due_date"] == "2030-01-01"


async def test_a_promised_delivery_date_with_a_time_is_a_422(customer_service: CustomerService) -> None:
    customer = await customer_service.register()
    response = await customer_service.client.post(
        "/v1/orders", json=an_order(customer["id"], promised_delivery_date="2030-01-01T10:00:00+00:00"),
        headers=customer_service.staff,
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "promised_delivery_date"]


@pytest.mark.parametrize("price", [19.99, 20, "19.999", "1e3", "-1.00", "019.99"])
async def test_money_that_is_not_a_documented_decimal_string_is_a_422(
    customer_service: CustomerService, price: object
) -> None:
    customer = await customer_service.register()
    order = an_order(customer["id"])
    order["lines"][0]["unit_price"] = price
    response = await customer_service.client.post("/v1/orders", json=order, headers=customer_service.staff)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "lines", 0, "unit_price"]


async def test_the_document_states_the_money_and_date_formats_the_server_checks(
    customer_service: CustomerService,
) -> None:
    document = (await customer_service.client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    price = schemas["LineCreate"]["properties"]["unit_price"]
    assert price["type"] == "string" and price["pattern"].startswith("^")
    assert schemas["PaymentCreate"]["properties"]["amount"]["type"] == "string"
    due = schemas["InvoiceCreate"]["properties"]["due_date"]
    assert (due["type"], due["format"]) == ("string", "date")
    assert "pattern" in schemas["CustomerCreate"]["properties"]["email"]


@pytest.mark.parametrize("amount", ["0.00", "0", 5, 5.5])
async def test_a_payment_must_be_a_positive_decimal_string(customer_service: CustomerService, amount: object) -> None:
    customer = await customer_service.register()
    order = await customer_service.place_order(customer["id"])
    invoice = await customer_service.client.post(
        "/v1/invoices", json={"order_id": order["id"], "due_date": "2030-01-01"}, headers=customer_service.staff
    )
    response = await customer_service.client.post(
        "/v1/payments", json={"invoice_id": invoice.json()["id"], "amount": amount, "method": "card"},
        headers=customer_service.staff,
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "amount"]


async def test_the_document_lists_the_time_zones_the_server_accepts(customer_service: CustomerService) -> None:
    document = (await customer_service.client.get("/openapi.json")).json()
    create = document["components"]["schemas"]["CustomerCreate"]["properties"]["timezone"]
    [zones] = [branch["enum"] for branch in create["anyOf"] if "enum" in branch]
    assert "Europe/Istanbul" in zones and "" not in zones

    refused = await customer_service.client.post("/v1/customers", json=a_customer(timezone="Mars/Olympus"),
                                                 headers=customer_service.staff)
    accepted = await customer_service.register(timezone=zones[0])
    assert refused.status_code == 422 and accepted["timezone"] == zones[0]


async def test_a_field_that_cannot_be_cleared_is_not_documented_as_nullable(
    customer_service: CustomerService,
) -> None:
    document = (await customer_service.client.get("/openapi.json")).json()
    update = document["components"]["schemas"]["CustomerUpdate"]["properties"]
    for field in ("name", "email", "relationship_type"):
        assert "anyOf" not in update[field] and update[field].get("type") == "string", field
    assert {"type": "null"} in update["phone"]["anyOf"]  # a phone may be cleared

    created = await customer_service.register()
    refused = await customer_service.client.patch(f"/v1/customers/{created['id']}", json={"name": None},
                                                  headers=customer_service.staff)
    assert refused.status_code == 422


@pytest.mark.parametrize("email", ["a\x1eb@example.com", "a@exa\x1fmple.com", "\ufeffa@example.com"])
async def test_an_email_with_a_separator_character_is_refused_by_document_and_server_alike(
    customer_service: CustomerService, email: str
) -> None:
    """Regex dialects disagree on whether \\s covers these; the documented pattern names them."""
    import re

    from services.customer.api.schemas import EMAIL_PATTERN

    assert re.search(EMAIL_PATTERN, email) is None
    response = await customer_service.client.post("/v1/customers", json=a_customer(email=email),
                                                  headers=customer_service.staff)
    assert response.status_code == 422, response.text
    assert await customer_service.outbox() == []
