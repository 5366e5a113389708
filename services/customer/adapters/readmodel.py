"""Inline read models: written in the unit of work, in the same transaction as the events.

Why inline rather than projected from Kafka: the customer service needs its own reads to be
immediately consistent (identity uniqueness is enforced by these tables' unique indexes, and the
overdue scheduler locks invoice rows). Every row here can be rebuilt from the event log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from services.customer.domain.model import Customer, canonical_email, name_key
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


@dataclass(frozen=True, slots=True)
class Links:
    """What a customer's row knows that its own stream does not: the merge it was absorbed by, and
    whether it was erased with the survivor of that merge."""

    merged_into: UUID | None
    erased: bool


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
