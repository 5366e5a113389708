"""Import use case: an enterprise's customers, orders, invoices and payments as this service's events.

Records arrive validated in shape (``shared.importing.records``) and in batches. For each record the
domain decides exactly as it does for a live command (``Customer.register``, ``Order.place`` then
``ship``/``deliver``/``cancel``/``return_``, ``Invoice.issue``, ``Invoice.pay``), with the record's
own ``occurred_at`` as ``now``, so the events carry the source's time. A domain refusal rejects that
record only. Each customer's writes of the batch are then in ONE transaction: events and outbox rows
through ``EventStore.append_many`` (``COPY``, marked as imported history), the inline read models
and the import ledger (``Importer`` splits a batch by customer over two such transactions at once; a
single call of ``import_batch`` uses one). Everything a record writes is about one customer, so a
record is all in or all out, and a re-run consults the ledger:

* same ``(kind, source_id)`` and same content → nothing;
* same key, new content (an order now ``delivered``) → only the events that move it there;
* a customer whose normalised email (or phone) already belongs to a customer → linked, not duplicated;
* a delta giving a customer an email or phone another customer holds → rejected: an import never
  merges two customers (that is an operator's decision, docs/identity.md).

References are source ids, resolved in the batch first, then through the ledger. A reference to a
record that is neither earlier in the input nor imported before is a reject.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from pydantic import TypeAdapter

from services.customer.adapters import readmodel
from services.customer.domain.model import (
    Customer,
    Invoice,
    LineRequest,
    Order,
    canonical_email,
    name_key,
    normalise_email,
    normalise_phone,
)
from shared.contracts.customer import ContactChannel, InvoiceIssued, OrderLine, OrderPlaced, PaymentReceived
from shared.errors import ConcurrencyConflict, PlatformError
from shared.events.catalog import DomainEvent
from shared.importing import ledger
from shared.importing.batches import write_batch
from shared.importing.records import (
    CustomerRecord,
    InvoiceRecord,
    Numbered,
    OrderRecord,
    PaymentRecord,
    fingerprint,
)
from shared.importing.results import BatchResult
from shared.store.eventstore import EventStore, StreamAppend

KINDS = ("customer", "order", "invoice", "payment")
_ORDER_PATH = ("placed", "shipped", "delivered")
_LINES = TypeAdapter(list[OrderLine])
"""An order's lines as the JSON of its read row, dumped in one call."""
_WRITERS = 2
"""Transactions a batch's writes are split over, by customer (``_write_by_customer``)."""
_YIELD_EVERY = 100
"""Records decided between two turns of the event loop (each ~50 us of CPU)."""
_NO_RETURN_LIMIT = timedelta(days=365 * 100)
"""History decides: a return the source recorded is taken whatever the live return window says."""


class _Refused(Exception):
    """A record the domain or a reference check refused (its reason goes to the reject file)."""


@dataclass
class _Stream:
    stream_type: str
    subject: str
    expected_version: int
    customer_id: UUID
    """``subject`` as a UUID (the batch is split by customer without parsing it again)."""
    events: list[DomainEvent] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)


@dataclass
class _Batch:
    """Everything a batch decided, written at the end in one transaction."""

    streams: dict[str, _Stream] = field(default_factory=dict)
    customers: dict[UUID, Customer] = field(default_factory=dict)
    customer_times: dict[UUID, datetime] = field(default_factory=dict)
    orders: dict[UUID, Order] = field(default_factory=dict)
    order_past: dict[UUID, list[tuple[DomainEvent, datetime]]] = field(default_factory=dict)
    """Each order's events with their moments: an invoice is judged on the order as it was then."""
    invoices: dict[UUID, Invoice] = field(default_factory=dict)
    order_events: list[tuple[DomainEvent, int]] = field(default_factory=list)
    new_orders: set[UUID] = field(default_factory=set)
    invoices_issued: list[tuple[InvoiceIssued, int]] = field(default_factory=list)
    payments: list[tuple[PaymentReceived, int]] = field(default_factory=list)
    ledger: dict[tuple[str, str], ledger.LedgerEntry] = field(default_factory=dict)
    emails: dict[str, UUID] = field(default_factory=dict)
    phones: dict[str, UUID] = field(default_factory=dict)
    """Email / phone → the customer (the survivor, if merged) a new record with it is linked to."""
    holders: dict[str, UUID] = field(default_factory=dict)
    """Email or phone → the customer row holding it (merged duplicates keep theirs): a delta moving a
    customer onto another's address is refused, never merged."""

    def append(self, stream_id: UUID, stream_type: str, subject: UUID, expected: int,
               events: Sequence[DomainEvent], moments: Sequence[datetime]) -> None:
        key = str(stream_id)
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = _Stream(stream_type, str(subject), expected, subject)
        stream.events.extend(events)
        stream.times.extend(moments)


async def import_batch(conn_source: asyncpg.Pool, store: EventStore, records: Sequence[Numbered]) -> BatchResult:
    """Import a batch in one transaction; if the batch loses a race, record by record (each atomic)."""
    return await write_batch(conn_source, records, lambda conn, some: _import(conn, store, some))


async def resolve_customers(conn: asyncpg.Connection, source_ids: Iterable[str]) -> dict[str, UUID]:
    """Customer source id → the customer id it was imported as or linked to (the survivor if merged)."""
    found = await ledger.lookup(conn, (("customer", s) for s in source_ids))
    if not found:
        return {}
    rows = await conn.fetch("select id, coalesce(merged_into, id) as survivor from customers where id = any($1)",
                            [e.entity_id for e in found.values()])
    survivor = {r["id"]: r["survivor"] for r in rows}
    return {key[1]: survivor.get(e.entity_id, e.entity_id) for key, e in found.items()}


async def _import(conn: asyncpg.Connection, store: EventStore, records: Sequence[Numbered]) -> BatchResult:
    batch, result = await _decide_batch(conn, store, records, None)
    result.events = await _write(conn, store, batch)
    return result


async def _decide_batch(conn: asyncpg.Connection, store: EventStore, records: Sequence[Numbered],
                        carried: _Batch | None) -> tuple[_Batch, BatchResult]:
    """Every record's decision, nothing written; ``carried`` is the previous batch's, not yet committed."""
    result = BatchResult()
    known = await ledger.lookup(conn, _keys(records))
    batch = _Batch()
    await _preload(conn, store, batch, records, known)
    if carried is not None:
        _carry(batch, known, carried)
    for number, numbered in enumerate(records):
        if number % _YIELD_EVERY == 0 and number:
            # Deciding a batch is ~0.5 s of CPU: let the previous batch's write send its next
            # statement meanwhile, or the two would take turns instead of overlapping.
            await asyncio.sleep(0)
        record = numbered.record
        entry, digest = ledger.entry_of(record, batch.ledger, known), fingerprint(record)
        if entry is not None and entry.fingerprint == digest:
            result.unchanged += 1
            continue
        try:
            # Every domain decision of a record comes before its first change to ``batch``, so a
            # refused record leaves nothing behind.
            outcome = _decide(batch, known, record, entry, digest)
        except (_Refused, PlatformError) as exc:
            result.rejects.append(numbered.reject(str(exc)))
            continue
        if outcome == "linked":
            result.linked += 1
        elif outcome == "updated":
            result.updated += 1
        elif outcome == "created":
            result.created += 1
        else:
            result.unchanged += 1
    return batch, result

_T = TypeVar("_T")


def _carry(batch: _Batch, known: dict[tuple[str, str], ledger.LedgerEntry], carried: _Batch) -> None:
    """What the previous batch decided, over what this batch read before that batch committed.

    Exactly what these reads return once it has: its ledger rows, the customers, orders and invoices
    as it left them (their versions are the heads its events move the streams to), and who holds
    which email and phone, including the addresses its deltas gave or took from a customer.
    """
    known.update(carried.ledger)
    batch.customers.update(carried.customers)
    batch.orders.update(carried.orders)
    batch.order_past.update(carried.order_past)
    batch.invoices.update(carried.invoices)
    batch.emails.update(carried.emails)
    batch.phones.update(carried.phones)
    batch.holders.update(carried.holders)
    changed = {s.customer_id: carried.customers[s.customer_id] for s in carried.streams.values()
               if s.stream_type == "customer" and s.expected_version > 0}
    if not changed:
        return
    # This batch's reads still see the addresses those deltas took away (``_moved`` gave the new ones).
    for address in [a for a, row in batch.holders.items()
                    if row in changed and a not in (changed[row].email, changed[row].phone)]:
        del batch.holders[address]
        batch.emails.pop(address, None)
        batch.phones.pop(address, None)


def _keys(records: Sequence[Numbered]) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for n in records:
        r = n.record
        keys.add((r.kind, r.source_id))
        if isinstance(r, OrderRecord):
            keys.add(("customer", r.customer_source_id))
        elif isinstance(r, InvoiceRecord):
            keys.add(("order", r.order_source_id))
        elif isinstance(r, PaymentRecord):
            keys.add(("invoice", r.invoice_source_id))
    return keys


async def _preload(conn: asyncpg.Connection, store: EventStore, batch: _Batch, records: Sequence[Numbered],
                   known: dict[tuple[str, str], ledger.LedgerEntry]) -> None:
    """Load, with a few statements, every existing aggregate the batch will decide on."""
    emails: set[str] = set()
    phones: set[str] = set()
    for n in records:
        # Deltas too: a changed email or phone may already belong to another customer.
        if isinstance(n.record, CustomerRecord):
            try:
                emails.add(normalise_email(n.record.email))
                if n.record.phone:
                    phones.add(normalise_phone(n.record.phone))
            except PlatformError:
                continue  # refused when decided, with the domain's reason
    if emails or phones:
        rows = await conn.fetch(
            """select c.id as row_id, coalesce(c.merged_into, c.id) as id, c.email, c.phone, s.status
               from customers c join customers s on s.id = coalesce(c.merged_into, c.id)
               where c.email = any($1::text[]) or c.phone = any($2::text[])""",
            sorted(emails), sorted(phones))
        for r in rows:
            if r["email"]:
                batch.emails[r["email"]] = r["id"]
                batch.holders[r["email"]] = r["row_id"]
            if r["phone"]:
                batch.phones[r["phone"]] = r["id"]
                batch.holders[r["phone"]] = r["row_id"]
            # A linked customer is the one the records are then about: orders need its status.
            batch.customers[r["id"]] = _known_customer(r["id"], None, r["status"])
    existing = {e.entity_id: e.kind for e in known.values()}
    if not existing:
        return
    customers = [i for i, k in existing.items() if k == "customer"]
    if customers:
        links = await conn.fetch("select id, merged_into, status from customers where id = any($1)", customers)
        for r in links:
            batch.customers[r["id"]] = _known_customer(r["id"], r["merged_into"], r["status"])
        # Customers whose record changed (a delta) need their full state: rehydrate them.
        changed = [e.entity_id for n in records for e in [known.get(("customer", n.record.source_id))]
                   if e is not None and n.record.kind == "customer" and e.fingerprint != fingerprint(n.record)]
        for customer_id, history in (await _histories(conn, store, changed, opened=True)).items():
            rehydrated = Customer.rehydrate(e for e, _ in history)
            rehydrated.merged_into = batch.customers[customer_id].merged_into
            batch.customers[customer_id] = rehydrated
    for stream_id, history in (await _histories(conn, store, [i for i, k in existing.items() if k == "order"])).items():
        batch.orders[stream_id] = Order.rehydrate(e for e, _ in history)
        batch.order_past[stream_id] = history
    for stream_id, history in (await _histories(conn, store, [i for i, k in existing.items()
                                                               if k == "invoice"])).items():
        batch.invoices[stream_id] = Invoice.rehydrate(e for e, _ in history)


def _known_customer(customer_id: UUID, merged_into: UUID | None, status: str) -> Customer:
    """A customer as far as ordering needs it (active, merged or erased), from its read row."""
    customer = Customer.rehydrate(())
    customer.id, customer.merged_into = customer_id, merged_into
    customer.status = "erased" if status == "erased" else "active"
    return customer


async def _histories(conn: asyncpg.Connection, store: EventStore, ids: Sequence[UUID], *,
                     opened: bool = False) -> dict[UUID, list[tuple[DomainEvent, datetime]]]:
    """Events of many streams (with when they happened) in one query.

    Personal fields stay sealed unless ``opened``: a customer delta compares the source's email, phone
    and name with the customer's, and a sealed value never equals a plain one, so every delta would
    re-record them as changed (and unverify a verified email or phone that did not change).
    """
    if not ids:
        return {}
    histories = await store.load_with_times(conn, [str(i) for i in ids], opened=opened)
    return {UUID(stream_id): history for stream_id, history in histories.items()}


def _resolve(batch: _Batch, known: dict[tuple[str, str], ledger.LedgerEntry], kind: str, source_id: str) -> UUID:
    entry = batch.ledger.get((kind, source_id)) or known.get((kind, source_id))
    if entry is None:
        raise _Refused(f"unknown reference: no {kind} with source_id {source_id!r} earlier in the input "
                       "or imported before")
    return entry.entity_id


def _decide(batch: _Batch, known: dict[tuple[str, str], ledger.LedgerEntry], record: Any,
            entry: ledger.LedgerEntry | None, digest: str) -> str:
    match record:
        case CustomerRecord():
            return _decide_customer(batch, record, entry, digest)
        case OrderRecord():
            customer_id = _resolve(batch, known, "customer", record.customer_source_id)
            return _decide_order(batch, record, entry, digest, customer_id)
        case InvoiceRecord():
            order_id = _resolve(batch, known, "order", record.order_source_id)
            return _decide_invoice(batch, record, entry, digest, order_id)
        case PaymentRecord():
            invoice_id = _resolve(batch, known, "invoice", record.invoice_source_id)
            return _decide_payment(batch, record, entry, digest, invoice_id)
    raise _Refused(f"kind {record.kind!r} is not imported by the customer service")


def _remember(batch: _Batch, record: Any, entity: UUID, customer: UUID | None, digest: str,
              outcome: ledger.Outcome) -> None:
    key = (record.kind, record.source_id)
    previous = batch.ledger.get(key)
    batch.ledger[key] = ledger.LedgerEntry(record.kind, record.source_id, entity, customer, digest,
                                           previous.outcome if previous else outcome)


def _decide_customer(batch: _Batch, record: CustomerRecord, entry: ledger.LedgerEntry | None, digest: str) -> str:
    now = record.occurred_at
    consents: dict[ContactChannel, bool] = {"email": record.consents.email, "sms": record.consents.sms,
                                            "push": record.consents.push, "phone": record.consents.phone}
    if entry is not None:
        # A delta: the profile and consents the source has now; the domain records only what changed.
        customer = copy.deepcopy(batch.customers.get(entry.entity_id))
        if customer is None or entry.outcome == "linked":
            _remember(batch, record, entry.entity_id, entry.entity_id, digest, entry.outcome)
            return "unchanged"  # a linked customer's profile is the live one's; the link stands
        _refuse_anothers_contact(batch, customer.id, record)
        before = customer.version + len(customer.pending)
        had = (customer.email, customer.phone)
        customer.update_profile({"name": record.name, "email": record.email, "phone": record.phone,
                                 "birth_date": record.birth_date, "timezone": record.timezone,
                                 "relationship_type": record.relationship_type}, now=now)
        customer.change_consents(consents, source="import", now=now)
        events = customer.pull_events()
        batch.append(customer.id, "customer", customer.id, before, events, [now] * len(events))
        batch.customers[customer.id] = customer
        batch.customer_times[customer.id] = now
        _moved(batch, customer, had)
        _remember(batch, record, customer.id, customer.id, digest, "created")
        return "updated" if events else "unchanged"
    email = normalise_email(record.email)
    phone = normalise_phone(record.phone) if record.phone else None
    existing = batch.emails.get(email)
    if existing is not None:
        _remember(batch, record, existing, existing, digest, "linked")
        return "linked"
    if phone is not None and phone in batch.phones:
        raise _Refused(f"phone {phone} belongs to another customer ({batch.phones[phone]}) with another email")
    customer = Customer.register(
        customer_id=ledger.entity_id("customer", record.source_id), name=record.name, email=email, phone=phone,
        birth_date=record.birth_date, timezone=record.timezone, relationship_type=record.relationship_type,
        acquisition_cost=record.acquisition_cost, consents=consents, now=now,
    )
    events = customer.pull_events()
    batch.append(customer.id, "customer", customer.id, 0, events, [now])
    batch.customers[customer.id] = customer
    batch.customer_times[customer.id] = now
    batch.emails[email] = batch.holders[email] = customer.id
    if phone:
        batch.phones[phone] = batch.holders[phone] = customer.id
    _remember(batch, record, customer.id, customer.id, digest, "created")
    return "created"


def _moved(batch: _Batch, customer: Customer, had: tuple[str | None, str | None]) -> None:
    """Who holds which address after a delta, as the rows will once the batch committed: the
    customer's new email and phone are theirs (a later record with one is linked to them), those it
    left are free (a later record with one is a new customer)."""
    current = (customer.email, customer.phone)
    for address in had:
        if address and address not in current and batch.holders.get(address) == customer.id:
            del batch.holders[address]
            batch.emails.pop(address, None)
            batch.phones.pop(address, None)
    survivor = customer.merged_into or customer.id
    if customer.email:
        batch.emails[customer.email] = survivor
        batch.holders[customer.email] = customer.id
    if customer.phone:
        batch.phones[customer.phone] = survivor
        batch.holders[customer.phone] = customer.id


def _refuse_anothers_contact(batch: _Batch, customer_id: UUID, record: CustomerRecord) -> None:
    """Refuse a delta that gives a customer an email or phone another customer holds.

    Two records with one address may be one person, but deciding that is a merge, and a merge is an
    operator's decision (with its consent and verified-identity rules: docs/identity.md): an import
    never merges. The record is rejected with the other customer's id for the operator to review.
    """
    for name, value in (("email", record.email), ("phone", record.phone)):
        if not value:
            continue
        address = normalise_email(value) if name == "email" else normalise_phone(value)
        holder = batch.holders.get(address)
        if holder is not None and holder != customer_id:
            raise _Refused(f"{name} {address} belongs to another customer ({holder}); an import never merges "
                           "customers: review the pair and merge it in the console if they are one person")


def _order_moves(order: Order, record: OrderRecord) -> list[tuple[str, datetime]]:
    """The transitions from the order's status to the record's, each with its moment.

    Only the status time is known: intermediate steps (shipped on the way to delivered) are dated
    half-way between the last known moment and it, so the timeline keeps its order.
    """
    target, start = record.status, order.status
    end = record.status_at or record.occurred_at
    if target == start:
        return []
    path: list[str]
    if target in _ORDER_PATH and start in _ORDER_PATH and _ORDER_PATH.index(target) > _ORDER_PATH.index(start):
        path = list(_ORDER_PATH[_ORDER_PATH.index(start) + 1:_ORDER_PATH.index(target) + 1])
    elif target == "cancelled" and start in ("placed", "shipped"):
        path = ["cancelled"]
    elif target == "returned" and start in _ORDER_PATH:
        path = [*_ORDER_PATH[_ORDER_PATH.index(start) + 1:], "returned"]
    else:
        raise _Refused(f"status: an order that is {start} cannot become {target}")
    last = order.delivered_at if start == "delivered" and order.delivered_at else record.occurred_at
    last = min(last, end)
    steps = []
    for i, status in enumerate(path, start=1):
        moment = end if i == len(path) else last + (end - last) * i / len(path)
        steps.append((status, moment))
    return steps


def _move(order: Order, status: str, moment: datetime) -> None:
    if status == "shipped":
        order.ship(now=moment)
    elif status == "delivered":
        order.deliver(now=moment)
    elif status == "cancelled":
        order.cancel(now=moment)
    elif status == "returned":
        order.return_(now=moment, window=_NO_RETURN_LIMIT)


def _decide_order(batch: _Batch, record: OrderRecord, entry: ledger.LedgerEntry | None, digest: str,
                  customer_id: UUID) -> str:
    if entry is not None:
        existing = batch.orders.get(entry.entity_id)
        if existing is None:
            raise _Refused(f"order {entry.entity_id} is in the ledger but not in the event store")
        order = copy.deepcopy(existing)
        expected = order.version
        moves = _order_moves(order, record)
        for status, moment in moves:
            _move(order, status, moment)
        events = order.pull_events()
        _order_events(batch, order, expected, events, [m for _, m in moves])
        _remember(batch, record, order.id, order.customer_id, digest, "created")
        return "updated" if events else "unchanged"
    customer = batch.customers.get(customer_id)
    if customer is None:
        raise _Refused(f"customer {customer_id} of customer_source_id {record.customer_source_id!r} does not exist")
    order = Order.place(
        order_id=ledger.entity_id("order", record.source_id), customer=customer,
        lines=[LineRequest(sku=line.sku, name=line.name or line.sku, category=line.category, quantity=line.quantity,
                           unit_price=line.unit_price, unit_cost=line.unit_cost) for line in record.lines],
        currency=record.currency, channel=record.channel, now=record.occurred_at,
    )
    moves = _order_moves(order, record)
    for status, moment in moves:
        _move(order, status, moment)
    events = order.pull_events()
    batch.new_orders.add(order.id)
    _order_events(batch, order, 0, events, [record.occurred_at, *(m for _, m in moves)])
    _remember(batch, record, order.id, customer.id, digest, "created")
    return "created"


def _order_events(batch: _Batch, order: Order, expected: int, events: list[DomainEvent],
                  moments: list[datetime]) -> None:
    batch.append(order.id, "order", order.customer_id, expected, events, moments)
    batch.orders[order.id] = order
    # A new list, never extended in place: the previous batch's lists are shared with the next (``_carry``).
    batch.order_past[order.id] = [*batch.order_past.get(order.id, ()), *zip(events, moments, strict=True)]
    batch.order_events.extend((e, expected + i) for i, e in enumerate(events, start=1))


def _never_changed(entry: ledger.LedgerEntry | None, why: str) -> None:
    """Invoices and payments are facts once recorded: a delta may not rewrite them."""
    if entry is not None:
        raise _Refused(why)


def _stored(found: _T | None, what: str) -> _T:
    """The referenced record as this batch sees the event store, or the row is refused."""
    if found is None:
        raise _Refused(f"{what} is not in the event store")
    return found


def _decide_invoice(batch: _Batch, record: InvoiceRecord, entry: ledger.LedgerEntry | None, digest: str,
                    order_id: UUID) -> str:
    _never_changed(entry, "an imported invoice cannot change (amount and due date are fixed once issued)")
    past = _stored(batch.order_past.get(order_id), f"order of order_source_id {record.order_source_id!r}")
    # Invoiced before it was returned or cancelled: the order as it stood when the invoice was issued.
    order = Order.rehydrate([past[0][0], *(e for e, at in past[1:] if at <= record.occurred_at)])
    invoice = Invoice.issue(invoice_id=ledger.entity_id("invoice", record.source_id), order=order,
                            due_date=record.due_date, now=record.occurred_at)
    [issued] = invoice.pull_events()
    assert isinstance(issued, InvoiceIssued)
    if issued.amount != record.amount:
        # The source's invoice amount wins (taxes, fees): history is recorded as it was billed.
        issued = issued.model_copy(update={"amount": record.amount})
        invoice = Invoice.rehydrate([issued])
    batch.append(invoice.id, "invoice", invoice.customer_id, 0, [issued], [record.occurred_at])
    batch.invoices[invoice.id] = invoice
    batch.invoices_issued.append((issued, 1))
    _remember(batch, record, invoice.id, invoice.customer_id, digest, "created")
    return "created"


def _decide_payment(batch: _Batch, record: PaymentRecord, entry: ledger.LedgerEntry | None, digest: str,
                    invoice_id: UUID) -> str:
    _never_changed(entry, "an imported payment cannot change")
    current = _stored(batch.invoices.get(invoice_id), f"invoice of invoice_source_id {record.invoice_source_id!r}")
    invoice = copy.copy(current)
    invoice._pending = []
    expected = invoice.version
    invoice.pay(payment_id=ledger.entity_id("payment", record.source_id), amount=Decimal(record.amount),
                method=record.method, now=record.occurred_at)
    [received] = invoice.pull_events()
    assert isinstance(received, PaymentReceived)
    batch.append(invoice.id, "invoice", invoice.customer_id, expected, [received], [record.occurred_at])
    batch.invoices[invoice.id] = invoice
    batch.payments.append((received, expected + 1))
    _remember(batch, record, received.payment_id, invoice.customer_id, digest, "created")
    return "created"


async def _write(conn: asyncpg.Connection, store: EventStore, batch: _Batch) -> int:
    """Events, read models and ledger of the whole batch, in the caller's transaction."""
    written = await store.append_many(
        conn,
        [StreamAppend(stream_id=s, stream_type=v.stream_type, expected_version=v.expected_version, subject=v.subject,
                      events=v.events, times=v.times) for s, v in batch.streams.items()],
        history=True,
    )
    await _save_customers(conn, [c for c in batch.customers.values() if c.id in batch.customer_times],
                          batch.customer_times)
    await _save_orders(conn, batch)
    await _save_invoices(conn, batch)
    await ledger.record(conn, list(batch.ledger.values()))
    return written


async def _write_by_customer(pool: asyncpg.Pool, store: EventStore, batch: _Batch) -> int:
    """The batch's writes in ``_WRITERS`` transactions at once, each holding whole customers.

    The profile: a batch's write was the import's critical path (~0.45 s for 5,000 rows: the COPYs,
    read rows and ledger one statement after the other on one connection, the client and
    PostgreSQL taking turns), the next batch waiting on it. Everything a record writes (its events,
    read rows, ledger row) is about one customer, so split by customer, every record is still all in
    or all out, and an order's invoice and payment commit with it. If one part fails, the parts that
    committed are in the ledger: the batch goes again (``import_batch``), and finds them unchanged
    (and counts them so: that race with a live writer is the one case where the counts undersell).

    Not split when a customer's profile changes (a delta): moving an email or phone frees it for a
    new customer of the same batch, and the unique index would see the two rows race (found by
    test_overlapping_batches: one in ten runs went record by record).
    """
    deltas = any(s.stream_type == "customer" and s.expected_version > 0 for s in batch.streams.values())
    parts = [part for part in _by_customer(batch, 1 if deltas else _WRITERS) if part.ledger or part.streams]

    async def write(part: _Batch) -> int:
        async with pool.acquire() as conn, conn.transaction():
            return await _write(conn, store, part)

    outcomes = await asyncio.gather(*(write(part) for part in parts), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return sum(o for o in outcomes if isinstance(o, int))


def _by_customer(batch: _Batch, count: int) -> list[_Batch]:
    """The batch's writes (not its lookups) in ``count`` parts, each customer's in one of them."""
    parts = [_Batch() for _ in range(count)]

    def of(customer_id: UUID) -> _Batch:
        return parts[customer_id.int % count]

    for stream_id, stream in batch.streams.items():
        of(stream.customer_id).streams[stream_id] = stream
    for customer_id, moment in batch.customer_times.items():
        part = of(customer_id)
        part.customer_times[customer_id] = moment
        part.customers[customer_id] = batch.customers[customer_id]
    for order_id in batch.new_orders:
        part = of(batch.orders[order_id].customer_id)
        part.new_orders.add(order_id)
        part.orders[order_id] = batch.orders[order_id]
    for event, version in batch.order_events:
        of(event.customer_id).order_events.append((event, version))  # type: ignore[attr-defined]
    for issued, version in batch.invoices_issued:
        of(issued.customer_id).invoices_issued.append((issued, version))
    for received, version in batch.payments:
        of(received.customer_id).payments.append((received, version))
    for key, entry in batch.ledger.items():
        of(entry.customer_id or entry.entity_id).ledger[key] = entry
    return parts


async def _save_customers(conn: asyncpg.Connection, customers: Sequence[Customer], times: dict[UUID, datetime]) -> None:
    if not customers:
        return
    columns: list[list[Any]] = [[] for _ in range(20)]
    for c in customers:
        row = (c.id, c.name, c.email, c.phone, c.birth_date, c.address, name_key(c.name) if c.name else None,
               canonical_email(c.email) if c.email else None, c.timezone, c.relationship_type,
               c.acquisition_channel, c.referred_by, c.acquisition_cost, dict(c.consents), list(c.interests),
               c.account_manager_id, c.version, c.registered_at, times[c.id], ",".join(sorted(c.verified)))
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    # Interests travel as one joined text per row: unnest cannot take an array of arrays of varying length.
    # So do the verified contacts (a delta that changes a verified email or phone unverifies it, and the
    # profile must say so as the live PATCH's save does).
    columns[14] = ["\x1f".join(i) for i in columns[14]]
    await conn.execute(
        """insert into customers (id, status, name, email, phone, birth_date, address, name_key, email_canonical,
                                  timezone, relationship_type, acquisition_channel, referred_by, acquisition_cost,
                                  consents, interests, account_manager_id, version, registered_at, updated_at,
                                  verified)
           select u.id, 'active', u.name, u.email, u.phone, u.birth_date, u.address, u.name_key, u.email_canonical,
                  u.timezone, u.relationship_type, u.acquisition_channel, u.referred_by, u.acquisition_cost,
                  u.consents, case when u.interests = '' then '{}'::text[]
                                   else string_to_array(u.interests, E'\\x1f') end,
                  u.account_manager_id, u.version, u.registered_at, u.updated_at,
                  case when u.verified = '' then '{}'::text[] else string_to_array(u.verified, ',') end
           from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::date[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::text[], $11::text[], $12::uuid[], $13::numeric[], $14::jsonb[],
                       $15::text[], $16::text[], $17::int[], $18::timestamptz[], $19::timestamptz[], $20::text[])
                as u(id, name, email, phone, birth_date, address, name_key, email_canonical, timezone,
                     relationship_type, acquisition_channel, referred_by, acquisition_cost, consents, interests,
                     account_manager_id, version, registered_at, updated_at, verified)
           on conflict (id) do update set name = excluded.name, email = excluded.email, phone = excluded.phone,
               birth_date = excluded.birth_date, name_key = excluded.name_key,
               email_canonical = excluded.email_canonical, timezone = excluded.timezone,
               relationship_type = excluded.relationship_type, consents = excluded.consents,
               version = excluded.version, updated_at = excluded.updated_at, verified = excluded.verified""",
        *columns,
    )


async def _save_orders(conn: asyncpg.Connection, batch: _Batch) -> None:
    """New orders in one statement with their final state; a delta's events folded one by one."""
    fresh = [batch.orders[i] for i in batch.new_orders]
    if fresh:
        placed = {e.order_id: e for e, _ in batch.order_events if isinstance(e, OrderPlaced)}
        times: dict[tuple[UUID, str], datetime] = {}
        latest: dict[UUID, datetime] = {}
        for event, _ in batch.order_events:
            at = _status_time(event)
            if at is not None:
                order_id: UUID = event.order_id  # type: ignore[attr-defined]
                times[(order_id, event.event_type)] = at
                latest[order_id] = max(at, latest.get(order_id, at))
        columns: list[list[Any]] = [[] for _ in range(16)]
        for o in fresh:
            p = placed[o.id]
            row = (o.id, o.customer_id, o.status, _LINES.dump_json(p.lines).decode(), p.total, p.cost, p.margin,
                   p.currency, p.channel, p.placed_at, times.get((o.id, "OrderShipped")),
                   times.get((o.id, "OrderDelivered")), times.get((o.id, "OrderCancelled")),
                   times.get((o.id, "OrderReturned")), o.version, max(p.placed_at, latest.get(o.id, p.placed_at)))
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        # One statement for the batch, not one per order (executemany: a round of bind and execute
        # per row on the server, and each order's lines dumped line by line on the client).
        await conn.execute(
            """insert into orders (id, customer_id, status, lines, total, cost, margin, currency, channel, placed_at,
                                   shipped_at, delivered_at, cancelled_at, returned_at, version, updated_at)
               select u.id, u.customer_id, u.status, u.lines::jsonb, u.total, u.cost, u.margin, u.currency,
                      u.channel, u.placed_at, u.shipped_at, u.delivered_at, u.cancelled_at, u.returned_at,
                      u.version, u.updated_at
               from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::numeric[], $6::numeric[],
                           $7::numeric[], $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[],
                           $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::int[],
                           $16::timestamptz[])
                   as u(id, customer_id, status, lines, total, cost, margin, currency, channel, placed_at,
                        shipped_at, delivered_at, cancelled_at, returned_at, version, updated_at)""",
            *columns,
        )
    for event, version in batch.order_events:
        if event.order_id not in batch.new_orders:  # type: ignore[attr-defined]
            await readmodel.apply_order_event(conn, event, version)


def _status_time(event: DomainEvent) -> datetime | None:
    """When an order event moved the status (None for ``OrderPlaced``).

    Read from the instance's fields: ``getattr`` with a default on a pydantic model goes through
    its ``__getattr__`` and an exception per missing name, ~15 us an event in the importer's profile.
    """
    fields = event.__dict__
    for name in ("shipped_at", "delivered_at", "cancelled_at", "returned_at"):
        value = fields.get(name)
        if value is not None:
            return value  # type: ignore[no-any-return]
    return None


async def _save_invoices(conn: asyncpg.Connection, batch: _Batch) -> None:
    if batch.invoices_issued:
        issued = [e for e, _ in batch.invoices_issued]
        await conn.execute(
            """insert into invoices (id, order_id, customer_id, amount, currency, due_date, issued_at, version)
               select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::numeric[], $5::text[], $6::date[],
                                    $7::timestamptz[], $8::int[])""",
            [e.invoice_id for e in issued], [e.order_id for e in issued], [e.customer_id for e in issued],
            [e.amount for e in issued], [e.currency for e in issued], [e.due_date for e in issued],
            [e.issued_at for e in issued], [v for _, v in batch.invoices_issued],
        )
    if batch.payments:
        paid = [e for e, _ in batch.payments]
        await conn.execute(
            """insert into payments (id, invoice_id, customer_id, amount, method, paid_at)
               select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::numeric[], $5::text[],
                                    $6::timestamptz[])""",
            [e.payment_id for e in paid], [e.invoice_id for e in paid], [e.customer_id for e in paid],
            [e.amount for e in paid], [e.method for e in paid], [e.paid_at for e in paid],
        )
        last: dict[UUID, tuple[Decimal, int]] = {}
        for e, v in batch.payments:
            last[e.invoice_id] = (e.amount_paid, v)
        await conn.execute(
            """update invoices i set paid = u.paid, version = u.version
               from unnest($1::uuid[], $2::numeric[], $3::int[]) as u(id, paid, version) where i.id = u.id""",
            list(last), [p for p, _ in last.values()], [v for _, v in last.values()],
        )


@dataclass
class _InFlight:
    """A batch of ``Importer.import_batch`` the next one builds on before it has committed."""

    decided: asyncio.Future[_Batch | None]
    """Its decisions (None: it failed before deciding; the next batch reads the database instead)."""
    written: asyncio.Future[bool]
    """True once it committed exactly those decisions; False if it committed others (it lost a race
    and went record by record, or decided again) or nothing: then what it decided must not be built on."""


@dataclass
class Importer:
    """The customer service's import use case bound to its database (``shared.importing`` drives it).

    Batches overlap (``pipelined``): while one batch's transaction writes, the next is decided on
    another connection, from the database as it was plus what the batch being written decided
    (``_carry``); it then writes after that batch committed, in call order. The profile before this:
    the client's decisions and PostgreSQL's writes of the same service took turns. A batch whose
    predecessor did not commit what it decided is decided again from the database, so the result is
    always that of batches run one after the other.
    """

    pool: asyncpg.Pool
    store: EventStore
    kinds: tuple[str, ...] = KINDS
    pipelined: bool = True
    _last: _InFlight | None = field(default=None, init=False, repr=False)

    async def import_batch(self, records: Sequence[Numbered], customers: Mapping[str, UUID]) -> BatchResult:
        """Customers, orders, invoices and payments; ``customers`` is not needed (resolved here).

        Calls may overlap; they take their place in the order they are made (before the first await).
        """
        loop = asyncio.get_running_loop()
        previous, mine = self._last, _InFlight(loop.create_future(), loop.create_future())
        self._last = mine
        try:
            carried = await asyncio.shield(previous.decided) if previous is not None else None
            if previous is not None and carried is None:  # it failed before deciding
                await asyncio.shield(previous.written)
                return await import_batch(self.pool, self.store, records)
            async with self.pool.acquire() as conn:
                batch, result = await _decide_batch(conn, self.store, records, carried)
            mine.decided.set_result(batch)
            if previous is not None and not await asyncio.shield(previous.written):
                # What this batch built on is not what committed: decide again, from the database.
                return await import_batch(self.pool, self.store, records)
            try:
                result.events = await _write_by_customer(self.pool, self.store, batch)
            except (ConcurrencyConflict, asyncpg.UniqueViolationError):
                return await import_batch(self.pool, self.store, records)
            mine.written.set_result(True)
            return result
        finally:
            if not mine.decided.done():
                mine.decided.set_result(None)
            if not mine.written.done():
                mine.written.set_result(False)
            if self._last is mine:
                self._last = None

    async def resolve_customers(self, source_ids: Sequence[str]) -> dict[str, UUID]:
        async with self.pool.acquire() as conn:
            return await resolve_customers(conn, source_ids)

    async def close(self) -> None:
        await self.pool.close()
