"""Builders of import records (NDJSON rows) for the import tests: unique source ids per test."""

from __future__ import annotations

import uuid
from typing import Any

import orjson


def tag() -> str:
    """A short unique prefix, so ids and emails never collide between tests."""
    return uuid.uuid4().hex[:8]


def a_customer_row(source_id: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": "customer", "source_id": source_id, "occurred_at": "2019-03-04T10:00:00+03:00",
        "name": f"Ayşe {source_id}", "email": f"{source_id}@example.com",
        "consents": {"email": True, "sms": False, "push": False, "phone": False},
    }
    row.update(overrides)
    return row


def an_order_row(source_id: str, customer: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": "order", "source_id": source_id, "occurred_at": "2019-05-01T09:30:00Z",
        "customer_source_id": customer, "status": "placed",
        "lines": [{"sku": "SKU-1", "category": "books", "quantity": 2, "unit_price": "10.00", "unit_cost": "6.00"}],
    }
    row.update(overrides)
    return row


def an_invoice_row(source_id: str, order: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": "invoice", "source_id": source_id, "occurred_at": "2019-05-01T10:00:00Z",
                           "order_source_id": order, "amount": "20.00", "due_date": "2019-05-31"}
    row.update(overrides)
    return row


def a_payment_row(source_id: str, invoice: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": "payment", "source_id": source_id, "occurred_at": "2019-05-20T10:00:00Z",
                           "invoice_source_id": invoice, "amount": "20.00", "method": "card"}
    row.update(overrides)
    return row


def a_ticket_row(source_id: str, customer: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": "ticket", "source_id": source_id, "occurred_at": "2020-02-03T08:00:00Z",
                           "customer_source_id": customer, "ticket_kind": "complaint", "channel": "phone",
                           "subject": "Late parcel", "description": "It never came", "status": "open"}
    row.update(overrides)
    return row


def a_survey_row(source_id: str, customer: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": "survey_answer", "source_id": source_id, "occurred_at": "2020-03-01T12:00:00Z",
                           "customer_source_id": customer, "survey_kind": "nps", "score": 3}
    row.update(overrides)
    return row


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)
