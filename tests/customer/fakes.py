"""The customer read model in memory, so command handlers are unit-tested without a database.

``InMemoryReadModel`` implements ``services.customer.application.ports.ReadModel`` with plain dicts.
It keeps the rules the PostgreSQL tables enforce that handlers rely on (an email or phone belongs to
one customer, one invoice per order, locking an unknown row is a ``NotFound``); bodies carry the
fields tests assert on, in the API's wire form (ids as strings), not every column of the real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from services.customer.application.ports import Links, ReadModel
from services.customer.domain.model import Customer
from services.customer.domain.notes import FollowUp, Note
from shared.contracts.customer import (
    InvoiceIssued,
    OrderCancelled,
    OrderDelivered,
    OrderPlaced,
    OrderReturned,
    OrderShipped,
    PaymentReceived,
)
from shared.errors import Conflict, NotFound
from shared.events.catalog import DomainEvent

_PERSONAL = ("name", "email", "phone", "birth_date", "address")


@dataclass
class InMemoryReadModel:
    """Rows of the customer service's tables, as dicts keyed by id."""

    customers: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    merged_into: dict[UUID, UUID] = field(default_factory=dict)
    orders: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    payments: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    notes: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    follow_ups: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    stored_answers: dict[UUID, int] = field(default_factory=dict)
    """Idempotent answers holding a customer's profile, per customer (seeded by a test)."""
    export_documents: dict[UUID, int] = field(default_factory=dict)
    """Export documents per customer (seeded by a test)."""
    destroyed_keys: list[str] = field(default_factory=list)
    erasures: dict[UUID, dict[str, str]] = field(default_factory=dict)
    """Per erased customer: each service's status in the erasure's ledger."""
    locked: list[UUID] = field(default_factory=list)
    """Rows locked, in order (customers and invoices)."""

    # --- customers ---------------------------------------------------------------------------------

    def _links(self, customer_id: UUID) -> Links:
        row = self.customers.get(customer_id)
        if row is None:
            raise NotFound(f"customer {customer_id} does not exist")
        return Links(self.merged_into.get(customer_id), row["status"] == "erased")

    async def lock_customer(self, customer_id: UUID) -> Links:
        links = self._links(customer_id)
        self.locked.append(customer_id)
        return links

    async def lock_customers(self, ids: Sequence[UUID]) -> dict[UUID, Links]:
        found = {customer_id: self._links(customer_id) for customer_id in ids}
        self.locked.extend(ids)
        return found

    async def customer_exists(self, customer_id: UUID) -> bool:
        return customer_id in self.customers

    async def existing_customer_with(
        self, *, email: str | None, phone: str | None, excluding: UUID | None = None
    ) -> UUID | None:
        for customer_id, row in self.customers.items():
            if customer_id == excluding:
                continue
            if (email is not None and row["email"] == email) or (phone is not None and row["phone"] == phone):
                return self.merged_into.get(customer_id, customer_id)
        return None

    async def save_customer(self, customer: Customer, *, now: datetime) -> None:
        existing = await self.existing_customer_with(email=customer.email, phone=customer.phone, excluding=customer.id)
        if existing is not None:
            raise Conflict("a customer with this email or phone already exists", existing_customer_id=str(existing))
        self.customers[customer.id] = {
            "id": str(customer.id),
            "status": customer.status,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "birth_date": customer.birth_date.isoformat() if customer.birth_date else None,
            "address": customer.address,
            "consents": customer.consents_shown(),
            "verified": sorted(customer.verified),
            "account_manager_id": customer.account_manager_id,
            "version": customer.version,
            "updated_at": now,
        }

    async def set_merged_into(self, duplicate_id: UUID, survivor_id: UUID | None) -> None:
        if survivor_id is None:
            self.merged_into.pop(duplicate_id, None)
        else:
            self.merged_into[duplicate_id] = survivor_id

    async def customer(self, customer_id: UUID) -> dict[str, Any] | None:
        row = self.customers.get(customer_id)
        if row is None:
            return None
        survivor = self.merged_into.get(customer_id)
        status = "erased" if row["status"] == "erased" else "merged" if survivor else "active"
        return {**row, "status": status, "merged_into": str(survivor) if survivor else None}

    # --- erasure -----------------------------------------------------------------------------------

    async def merged_duplicates(self, customer_id: UUID) -> list[UUID]:
        return sorted(d for d, s in self.merged_into.items() if s == customer_id)

    async def erase_customer(self, customer_id: UUID, *, now: datetime, version: int) -> None:
        self.customers[customer_id].update(dict.fromkeys(_PERSONAL), status="erased", version=version, updated_at=now)

    async def forget_personal_data(self, customer_ids: list[UUID], *, now: datetime) -> None:
        for customer_id in customer_ids:
            self.customers[customer_id].update(dict.fromkeys(_PERSONAL), status="erased", updated_at=now)

    async def forget_stored_answers(self, customer_id: UUID) -> int:
        return self.stored_answers.pop(customer_id, 0)

    async def forget_export_documents(self, customer_id: UUID) -> int:
        return self.export_documents.pop(customer_id, 0)

    async def forget_notes(self, customer_ids: Sequence[UUID]) -> int:
        gone = [n for n, body in self.notes.items() if UUID(body["customer_id"]) in customer_ids]
        for note_id in gone:
            del self.notes[note_id]
        return len(gone)

    async def destroy_key(self, subject: str) -> None:
        self.destroyed_keys.append(subject)

    async def record_erasure_requested(
        self, customer_id: UUID, *, done: Mapping[str, Mapping[str, int]], pending: Iterable[str], now: datetime
    ) -> None:
        ledger = self.erasures.setdefault(customer_id, {})
        for service in [*done, *pending]:
            ledger.setdefault(service, "done" if service in done else "pending")

    # --- orders, invoices, payments -------------------------------------------------------------------

    async def apply_order_event(self, event: DomainEvent, version: int) -> None:
        match event:
            case OrderPlaced():
                self.orders[event.order_id] = {
                    "id": str(event.order_id),
                    "customer_id": str(event.customer_id),
                    "status": "placed",
                    "total": f"{event.total:.2f}",
                    "currency": event.currency,
                    "channel": event.channel,
                    "version": version,
                }
            case OrderShipped() | OrderDelivered() | OrderCancelled() | OrderReturned():
                status = {OrderShipped: "shipped", OrderDelivered: "delivered", OrderCancelled: "cancelled",
                          OrderReturned: "returned"}[type(event)]
                self.orders[event.order_id].update(status=status, version=version)

    async def order(self, order_id: UUID) -> dict[str, Any] | None:
        row = self.orders.get(order_id)
        return None if row is None else dict(row)  # a read is a snapshot, as a database row is

    async def insert_invoice(self, event: InvoiceIssued, version: int) -> None:
        for invoice in self.invoices.values():
            if invoice["order_id"] == str(event.order_id):
                raise Conflict(f"order {event.order_id} is already invoiced", existing_invoice_id=invoice["id"])
        self.invoices[event.invoice_id] = {
            "id": str(event.invoice_id),
            "order_id": str(event.order_id),
            "customer_id": str(event.customer_id),
            "amount": event.amount,
            "paid": Decimal("0"),
            "currency": event.currency,
            "due_date": event.due_date.isoformat(),
            "version": version,
        }

    async def lock_invoice(self, invoice_id: UUID) -> None:
        if invoice_id not in self.invoices:
            raise NotFound(f"invoice {invoice_id} does not exist")
        self.locked.append(invoice_id)

    async def record_payment(self, event: PaymentReceived, version: int) -> None:
        self.payments[event.payment_id] = {
            "id": str(event.payment_id),
            "invoice_id": str(event.invoice_id),
            "customer_id": str(event.customer_id),
            "amount": event.amount,
            "method": event.method,
        }
        self.invoices[event.invoice_id].update(paid=event.amount_paid, version=version)

    async def invoice(self, invoice_id: UUID) -> dict[str, Any] | None:
        row = self.invoices.get(invoice_id)
        return None if row is None else {**row, "outstanding": row["amount"] - row["paid"]}

    async def payment(self, payment_id: UUID) -> dict[str, Any] | None:
        row = self.payments.get(payment_id)
        if row is None:
            return None
        invoice = self.invoices[UUID(row["invoice_id"])]
        return {**row, "outstanding": invoice["amount"] - invoice["paid"]}

    # --- notes and follow-ups ---------------------------------------------------------------------------

    async def insert_note(self, note: Note) -> None:
        self.notes[note.id] = {"id": str(note.id), "customer_id": str(note.customer_id), "text": note.text,
                               "author": note.author}

    async def save_follow_up(self, follow_up: FollowUp, *, by: str, now: datetime) -> None:
        scheduled = self.follow_ups.get(follow_up.id, {"scheduled_by": by, "scheduled_at": now})
        self.follow_ups[follow_up.id] = {
            "id": str(follow_up.id),
            "customer_id": str(follow_up.customer_id),
            "note_id": str(follow_up.note_id),
            "owner": follow_up.owner,
            "state": follow_up.state,
            "due_at": follow_up.due_at,
            "scheduled_by": scheduled["scheduled_by"],
            "scheduled_at": scheduled["scheduled_at"],
            "version": follow_up.version,
        }

    async def follow_up_customer(self, follow_up_id: UUID) -> UUID | None:
        row = self.follow_ups.get(follow_up_id)
        return None if row is None else UUID(row["customer_id"])

    async def note(self, note_id: UUID) -> dict[str, Any] | None:
        row = self.notes.get(note_id)
        if row is None:
            return None
        follow = next((f for f in self.follow_ups.values() if f["note_id"] == row["id"]), None)
        return {**row, "follow_up": follow}

    async def follow_up(self, follow_up_id: UUID) -> dict[str, Any] | None:
        row = self.follow_ups.get(follow_up_id)
        if row is None:
            return None
        note = self.notes.get(UUID(row["note_id"]))
        return {**row, "note_text": None if note is None else note["text"]}


def as_read_model(rows: InMemoryReadModel) -> ReadModel:
    """Where tests are type-checked, mypy proves here that the fake implements the whole port."""
    return rows
