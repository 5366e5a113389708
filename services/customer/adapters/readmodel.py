"""Inline read models: written in the unit of work, in the same transaction as the events.

Why inline rather than projected from Kafka: the customer service needs its own reads to be
immediately consistent (identity uniqueness is enforced by these tables' unique indexes, and the
overdue scheduler locks invoice rows). Every row here can be rebuilt from the event log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.customer.adapters import erasure
from services.customer.adapters import exports as export_rows
from services.customer.adapters import notes as note_rows
from services.customer.application import queries
from services.customer.application.ports import Links
from services.customer.domain.model import Customer, canonical_email, name_key
from services.customer.domain.notes import FollowUp, Note
from shared.contracts.customer import (
    InvoiceIssued,
    OrderCancelled,
    OrderDelivered,
    OrderPlaced,
    OrderReturned,
    OrderShipped,
    PaymentOverdue,
    PaymentReceived,
)
from shared.errors import Conflict, NotFound
from shared.events.catalog import DomainEvent
from shared.shredding import KeyStore


async def existing_customer_with(
    conn: asyncpg.Connection, *, email: str | None, phone: str | None, excluding: UUID | None = None
) -> UUID | None:
    """The customer (the survivor, if merged) already holding this email or phone."""
    row = await conn.fetchrow(
        """select coalesce(merged_into, id) as id from customers
           where (email = $1 or phone = $2) and ($3::uuid is null or id <> $3) limit 1""",
        email,
        phone,
        excluding,
    )
    return None if row is None else row["id"]


_SAVE_CUSTOMER = """
insert into customers (id, status, name, email, phone, birth_date, address, name_key, email_canonical,
                       timezone, relationship_type, acquisition_channel, referred_by, acquisition_cost,
                       consents, interests, account_manager_id, version, registered_at, updated_at, erased_at,
                       verified)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
on conflict (id) do update set
    status = excluded.status, name = excluded.name, email = excluded.email, phone = excluded.phone,
    birth_date = excluded.birth_date, address = excluded.address, name_key = excluded.name_key,
    email_canonical = excluded.email_canonical, timezone = excluded.timezone,
    relationship_type = excluded.relationship_type, consents = excluded.consents,
    interests = excluded.interests, account_manager_id = excluded.account_manager_id,
    version = excluded.version, updated_at = excluded.updated_at, erased_at = excluded.erased_at,
    verified = excluded.verified
"""


async def save_customer(conn: asyncpg.Connection, customer: Customer, *, now: datetime) -> None:
    """Write the customer's current state; an email or phone taken meanwhile becomes a 409."""
    erased = customer.status == "erased"
    try:
        # A savepoint, so the unique violation can be answered from inside the same transaction.
        async with conn.transaction():
            await conn.execute(
                _SAVE_CUSTOMER,
                customer.id,
                customer.status,
                customer.name,
                customer.email,
                customer.phone,
                customer.birth_date,
                customer.address,
                name_key(customer.name) if customer.name else None,
                canonical_email(customer.email) if customer.email else None,
                customer.timezone,
                customer.relationship_type,
                customer.acquisition_channel,
                customer.referred_by,
                customer.acquisition_cost,
                customer.consents_shown(),
                list(customer.interests),
                customer.account_manager_id,
                customer.version,
                customer.registered_at,
                now,
                now if erased else None,
                sorted(customer.verified),
            )
    except asyncpg.UniqueViolationError:
        existing = await existing_customer_with(conn, email=customer.email, phone=customer.phone, excluding=customer.id)
        raise Conflict(
            "a customer with this email or phone already exists",
            existing_customer_id=str(existing) if existing else None,
        ) from None


async def lock_customer(conn: asyncpg.Connection, customer_id: UUID) -> Links:
    """Lock the customer's row for this transaction; its ``Links``. ``NotFound`` if unknown.

    Every command on a customer takes this lock first, so merges, erasure and updates of one
    customer are serialised and a check made here still holds at commit.
    """
    row = await conn.fetchrow(
        "select merged_into, status = 'erased' as erased from customers where id = $1 for update", customer_id
    )
    if row is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return Links(row["merged_into"], row["erased"])


async def lock_customers(conn: asyncpg.Connection, ids: Sequence[UUID]) -> dict[UUID, Links]:
    """Lock several customers in id order (a fixed order, so two merges cannot deadlock)."""
    rows = await conn.fetch(
        """select id, merged_into, status = 'erased' as erased from customers
           where id = any($1::uuid[]) order by id for update""",
        list(ids),
    )
    found = {r["id"]: Links(r["merged_into"], r["erased"]) for r in rows}
    for customer_id in ids:
        if customer_id not in found:
            raise NotFound(f"customer {customer_id} does not exist")
    return found


async def customer_exists(conn: asyncpg.Connection, customer_id: UUID) -> bool:
    return bool(await conn.fetchval("select exists(select 1 from customers where id = $1)", customer_id))


async def set_merged_into(conn: asyncpg.Connection, duplicate_id: UUID, survivor_id: UUID | None) -> None:
    await conn.execute("update customers set merged_into = $2 where id = $1", duplicate_id, survivor_id)


async def apply_order_event(conn: asyncpg.Connection, event: DomainEvent, version: int) -> None:
    """Fold one order event into the ``orders`` table."""
    match event:
        case OrderPlaced():
            await conn.execute(
                """insert into orders (id, customer_id, status, lines, total, cost, margin, currency, channel,
                                       offer_code, promised_delivery_date, placed_at, version, updated_at)
                   values ($1, $2, 'placed', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $11)""",
                event.order_id,
                event.customer_id,
                [line.model_dump(mode="json") for line in event.lines],
                event.total,
                event.cost,
                event.margin,
                event.currency,
                event.channel,
                event.offer_code,
                event.promised_delivery_date,
                event.placed_at,
                version,
            )
        case OrderShipped():
            await _order_status(conn, event.order_id, "shipped", "shipped_at", event.shipped_at, version)
        case OrderDelivered():
            await _order_status(conn, event.order_id, "delivered", "delivered_at", event.delivered_at, version)
        case OrderCancelled():
            await _order_status(conn, event.order_id, "cancelled", "cancelled_at", event.cancelled_at, version)
        case OrderReturned():
            await _order_status(conn, event.order_id, "returned", "returned_at", event.returned_at, version)


_STATUS_COLUMNS = frozenset({"shipped_at", "delivered_at", "cancelled_at", "returned_at"})


async def _order_status(
    conn: asyncpg.Connection, order_id: UUID, status: str, column: str, moment: datetime, version: int
) -> None:
    assert column in _STATUS_COLUMNS  # the column name is interpolated: only known names
    await conn.execute(
        f"update orders set status = $2, {column} = $3, version = $4, updated_at = $3 where id = $1",
        order_id,
        status,
        moment,
        version,
    )


async def insert_invoice(conn: asyncpg.Connection, event: InvoiceIssued, version: int) -> None:
    """One invoice per order: a second one is a 409 naming the first."""
    try:
        async with conn.transaction():
            await conn.execute(
                """insert into invoices (id, order_id, customer_id, amount, currency, due_date, issued_at,
                                         version)
                   values ($1, $2, $3, $4, $5, $6, $7, $8)""",
                event.invoice_id,
                event.order_id,
                event.customer_id,
                event.amount,
                event.currency,
                event.due_date,
                event.issued_at,
                version,
            )
    except asyncpg.UniqueViolationError:
        existing = await conn.fetchval("select id from invoices where order_id = $1", event.order_id)
        raise Conflict(
            f"order {event.order_id} is already invoiced",
            existing_invoice_id=str(existing) if existing else None,
        ) from None


async def lock_invoice(conn: asyncpg.Connection, invoice_id: UUID) -> None:
    """Lock the invoice row: payments and the overdue scheduler never decide on the same invoice at once."""
    found = await conn.fetchval("select 1 from invoices where id = $1 for update", invoice_id)
    if found is None:
        raise NotFound(f"invoice {invoice_id} does not exist")


async def record_payment(conn: asyncpg.Connection, event: PaymentReceived, version: int) -> None:
    await conn.execute(
        """with p as (insert into payments (id, invoice_id, customer_id, amount, method, paid_at)
                      values ($1, $2, $3, $4, $5, $6))
           update invoices set paid = $7, version = $8 where id = $2""",
        event.payment_id,
        event.invoice_id,
        event.customer_id,
        event.amount,
        event.method,
        event.paid_at,
        event.amount_paid,
        version,
    )


async def mark_invoices_overdue(conn: asyncpg.Connection, events: Sequence[tuple[PaymentOverdue, int]]) -> None:
    """Mark many invoices reported overdue in one statement."""
    await conn.execute(
        """update invoices i set overdue_at = u.at, version = u.version
           from unnest($1::uuid[], $2::timestamptz[], $3::int[]) as u(id, at, version) where i.id = u.id""",
        [e.invoice_id for e, _ in events],
        [e.detected_at for e, _ in events],
        [v for _, v in events],
    )


async def merged_duplicates(conn: asyncpg.Connection, customer_id: UUID) -> list[UUID]:
    """Customers merged into ``customer_id`` (they are the same person)."""
    rows = await conn.fetch("select id from customers where merged_into = $1", customer_id)
    return [r["id"] for r in rows]


async def forget_personal_data(conn: asyncpg.Connection, customer_ids: list[UUID], *, now: datetime) -> None:
    """Erase the merged duplicates of an erased customer too: the same person, so ``GET`` is a 410.

    Their ``merged_into`` and version stay: the link is what a rebuild derives their erasure from.
    """
    await conn.execute(
        """update customers set status = 'erased', name = null, email = null, phone = null, birth_date = null,
                  address = null, name_key = null, email_canonical = null, updated_at = $2, erased_at = $2
           where id = any($1::uuid[])""",
        customer_ids,
        now,
    )


async def erase_customer(conn: asyncpg.Connection, customer_id: UUID, *, now: datetime, version: int) -> None:
    """Delete every personal value this service holds outside the (encrypted) log."""
    await conn.execute(
        """update customers set status = 'erased', name = null, email = null, phone = null, birth_date = null,
                  address = null, name_key = null, email_canonical = null, version = $2, updated_at = $3,
                  erased_at = $3
           where id = $1""",
        customer_id,
        version,
        now,
    )


class PostgresReadModel:
    """``application.ports.ReadModel`` on PostgreSQL: the functions above (and the read queries) bound to
    the unit of work's connection, so every read and write runs in the command's transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # --- customers ---------------------------------------------------------------------------------

    async def lock_customer(self, customer_id: UUID) -> Links:
        return await lock_customer(self.conn, customer_id)

    async def lock_customers(self, ids: Sequence[UUID]) -> dict[UUID, Links]:
        return await lock_customers(self.conn, ids)

    async def customer_exists(self, customer_id: UUID) -> bool:
        return await customer_exists(self.conn, customer_id)

    async def existing_customer_with(
        self, *, email: str | None, phone: str | None, excluding: UUID | None = None
    ) -> UUID | None:
        return await existing_customer_with(self.conn, email=email, phone=phone, excluding=excluding)

    async def save_customer(self, customer: Customer, *, now: datetime) -> None:
        await save_customer(self.conn, customer, now=now)

    async def set_merged_into(self, duplicate_id: UUID, survivor_id: UUID | None) -> None:
        await set_merged_into(self.conn, duplicate_id, survivor_id)

    async def customer(self, customer_id: UUID) -> dict[str, Any] | None:
        return await queries.customer(self.conn, customer_id)

    # --- erasure -----------------------------------------------------------------------------------

    async def merged_duplicates(self, customer_id: UUID) -> list[UUID]:
        return await merged_duplicates(self.conn, customer_id)

    async def erase_customer(self, customer_id: UUID, *, now: datetime, version: int) -> None:
        await erase_customer(self.conn, customer_id, now=now, version=version)

    async def forget_personal_data(self, customer_ids: list[UUID], *, now: datetime) -> None:
        await forget_personal_data(self.conn, customer_ids, now=now)

    async def forget_stored_answers(self, customer_id: UUID) -> int:
        return await erasure.forget_stored_answers(self.conn, customer_id)

    async def forget_export_documents(self, customer_id: UUID) -> int:
        return await export_rows.forget(self.conn, customer_id)

    async def forget_notes(self, customer_ids: Sequence[UUID]) -> int:
        return await note_rows.forget(self.conn, customer_ids)

    async def destroy_key(self, subject: str) -> None:
        await KeyStore().destroy(self.conn, subject)

    async def record_erasure_requested(
        self, customer_id: UUID, *, done: Mapping[str, Mapping[str, int]], pending: Iterable[str], now: datetime
    ) -> None:
        await erasure.record_requested(self.conn, customer_id, done=done, pending=pending, now=now)

    # --- orders, invoices, payments -------------------------------------------------------------------

    async def apply_order_event(self, event: DomainEvent, version: int) -> None:
        await apply_order_event(self.conn, event, version)

    async def order(self, order_id: UUID) -> dict[str, Any] | None:
        return await queries.order(self.conn, order_id)

    async def insert_invoice(self, event: InvoiceIssued, version: int) -> None:
        await insert_invoice(self.conn, event, version)

    async def lock_invoice(self, invoice_id: UUID) -> None:
        await lock_invoice(self.conn, invoice_id)

    async def record_payment(self, event: PaymentReceived, version: int) -> None:
        await record_payment(self.conn, event, version)

    async def invoice(self, invoice_id: UUID) -> dict[str, Any] | None:
        return await queries.invoice(self.conn, invoice_id)

    async def payment(self, payment_id: UUID) -> dict[str, Any] | None:
        return await queries.payment(self.conn, payment_id)

    # --- notes and follow-ups ---------------------------------------------------------------------------

    async def insert_note(self, note: Note) -> None:
        await note_rows.insert_note(self.conn, note)

    async def save_follow_up(self, follow_up: FollowUp, *, by: str, now: datetime) -> None:
        await note_rows.save_follow_up(self.conn, follow_up, by=by, now=now)

    async def follow_up_customer(self, follow_up_id: UUID) -> UUID | None:
        return await note_rows.follow_up_customer(self.conn, follow_up_id)

    async def note(self, note_id: UUID) -> dict[str, Any] | None:
        return await queries.note(self.conn, note_id)

    async def follow_up(self, follow_up_id: UUID) -> dict[str, Any] | None:
        return await queries.follow_up(self.conn, follow_up_id)
