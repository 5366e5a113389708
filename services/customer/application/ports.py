"""The customer service's ports: what its use cases read and write besides events, and whom they ask.

Handlers receive a ``shared.store.ports.Work[ReadModel]`` and touch the service's own tables only
through these methods, so the same handler runs on PostgreSQL (``adapters.readmodel.PostgresReadModel``,
in the command's transaction) or in memory (``tests/customer/fakes.InMemoryReadModel``) in a unit test.
No method takes a connection: the adapter is bound to the unit of work's. ``ExportParts`` is how
the export job asks the other services for their parts, so ``application/`` holds no HTTP client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from services.customer.domain.model import Customer
from services.customer.domain.notes import FollowUp, Note
from shared.contracts.customer import InvoiceIssued, PaymentReceived
from shared.events.catalog import DomainEvent


@dataclass(frozen=True, slots=True)
class Links:
    """What a customer's row knows that its own stream does not: the merge it was absorbed by, and
    whether it was erased with the survivor of that merge."""

    merged_into: UUID | None
    erased: bool


class ReadModel(Protocol):
    """The customer service's tables, as its command handlers need them (bound to one transaction)."""

    # --- customers ---------------------------------------------------------------------------------

    async def lock_customer(self, customer_id: UUID) -> Links:
        """Lock the customer for this transaction (merges, erasure and updates serialise); ``NotFound`` if unknown."""
        ...

    async def lock_customers(self, ids: Sequence[UUID]) -> dict[UUID, Links]:
        """Lock several customers in id order (no deadlock between two merges); ``NotFound`` for a missing one."""
        ...

    async def customer_exists(self, customer_id: UUID) -> bool: ...

    async def existing_customer_with(
        self, *, email: str | None, phone: str | None, excluding: UUID | None = None
    ) -> UUID | None:
        """The customer (the survivor, if merged) already holding this email or phone."""
        ...

    async def save_customer(self, customer: Customer, *, now: datetime) -> None:
        """Write the customer's current state; an email or phone taken meanwhile is a ``Conflict``."""
        ...

    async def set_merged_into(self, duplicate_id: UUID, survivor_id: UUID | None) -> None: ...

    async def customer(self, customer_id: UUID) -> dict[str, Any] | None:
        """The customer's profile as the API shows it (erased ones too), or ``None`` when unknown."""
        ...

    # --- erasure -----------------------------------------------------------------------------------

    async def merged_duplicates(self, customer_id: UUID) -> list[UUID]:
        """Customers merged into ``customer_id`` (the same person)."""
        ...

    async def erase_customer(self, customer_id: UUID, *, now: datetime, version: int) -> None:
        """Delete every personal value of the customer's profile row."""
        ...

    async def forget_personal_data(self, customer_ids: list[UUID], *, now: datetime) -> None:
        """Erase the merged duplicates of an erased customer too (their links stay)."""
        ...

    async def forget_stored_answers(self, customer_id: UUID) -> int:
        """Blank the personal fields of stored idempotent answers about the customer; how many."""
        ...

    async def forget_export_documents(self, customer_id: UUID) -> int:
        """Drop the customer's export documents (a running export keeps nothing); how many."""
        ...

    async def forget_notes(self, customer_ids: Sequence[UUID]) -> int:
        """Delete the notes on these customers (and their text in stored answers); how many."""
        ...

    async def destroy_key(self, subject: str) -> None:
        """Crypto-shred the subject's data key: its sealed personal fields can never be read again."""
        ...

    async def record_erasure_requested(
        self, customer_id: UUID, *, done: Mapping[str, Mapping[str, int]], pending: Iterable[str], now: datetime
    ) -> None:
        """Open the erasure's ledger: the services in ``done`` finished now, the others are pending."""
        ...

    # --- orders, invoices, payments -------------------------------------------------------------------

    async def apply_order_event(self, event: DomainEvent, version: int) -> None:
        """Fold one order event into the orders read model."""
        ...

    async def order(self, order_id: UUID) -> dict[str, Any] | None: ...

    async def insert_invoice(self, event: InvoiceIssued, version: int) -> None:
        """One invoice per order: a second one is a ``Conflict`` naming the first."""
        ...

    async def lock_invoice(self, invoice_id: UUID) -> None:
        """Lock the invoice (payments and the overdue scheduler never decide at once); ``NotFound`` if unknown."""
        ...

    async def record_payment(self, event: PaymentReceived, version: int) -> None: ...

    async def invoice(self, invoice_id: UUID) -> dict[str, Any] | None: ...

    async def payment(self, payment_id: UUID) -> dict[str, Any] | None: ...

    # --- notes and follow-ups ---------------------------------------------------------------------------

    async def insert_note(self, note: Note) -> None: ...

    async def save_follow_up(self, follow_up: FollowUp, *, by: str, now: datetime) -> None:
        """Write the follow-up's current state (``by`` and ``now`` are its scheduling when it is new)."""
        ...

    async def follow_up_customer(self, follow_up_id: UUID) -> UUID | None:
        """The customer a follow-up is about, or ``None`` when there is no such follow-up."""
        ...

    async def note(self, note_id: UUID) -> dict[str, Any] | None:
        """One note with its follow-up, as the API shows it."""
        ...

    async def follow_up(self, follow_up_id: UUID) -> dict[str, Any] | None:
        """A follow-up with the text of its note, as the API shows it."""
        ...


class ExportParts(Protocol):
    """The other services' parts of a customer's export (``adapters.export_parts`` asks them over HTTP)."""

    async def fetch(self, service: str, customer_id: UUID) -> dict[str, Any]:
        """The service's part; ``RuntimeError`` with the reason when it cannot be had (the job fails with it)."""
        ...
