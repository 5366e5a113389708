"""Command handlers: load the aggregate, let it decide, append its events and update read models.

Each handler runs inside one unit of work (``shared.store.idempotent_commands.run_command``), so events, outbox
rows, read-model rows and the idempotency record commit together or not at all. Handlers take their
inputs as keyword arguments and ``now`` from the caller's clock, which keeps them deterministic in
tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from services.customer.adapters import erasure, readmodel
from services.customer.adapters import exports as export_rows
from services.customer.adapters import notes as note_rows
from services.customer.application import queries
from services.customer.domain.identity import RULES_STREAM
from services.customer.domain.model import Customer, Invoice, LineRequest, Order
from shared.contracts.customer import (
    AcquisitionChannel,
    ConsentSource,
    ContactChannel,
    DuplicateRuleSet,
    InvoiceIssued,
    PaymentMethod,
    PaymentReceived,
    RelationshipType,
    VerifiableChannel,
)
from shared.contracts.privacy import CustomerDataErased, erasure_stream
from shared.errors import Conflict, InvalidInput, NotFound
from shared.ids import new_id
from shared.store.idempotent_commands import CommandResult
from shared.store.uow import UnitOfWork
from shared.store.versions import ensure_version_matches
from shared.web.etag import etag_for


def _customer_answer(status: int, body: dict[str, Any], *, created: bool = False) -> CommandResult:
    headers = {"ETag": etag_for(body["version"])}
    if created:
        headers["Location"] = f"/v1/customers/{body['id']}"
    return CommandResult(status, body, headers)


async def _load_customer(uow: UnitOfWork, customer_id: UUID) -> Customer:
    """Lock the customer's row, then rebuild the aggregate from its stream."""
    links = await readmodel.lock_customer(uow.conn, customer_id)
    customer = Customer.rehydrate(e.event for e in await uow.store.load(uow.conn, str(customer_id)))
    customer.link(merged_into=links.merged_into, erased_with_survivor=links.erased)
    return customer


async def _append_customer(uow: UnitOfWork, customer: Customer) -> None:
    expected = customer.expected_version
    await uow.append(
        stream_id=str(customer.id),
        stream_type="customer",
        expected_version=expected,
        events=customer.pull_events(),
        subject=str(customer.id),
    )


async def _customer_body(uow: UnitOfWork, customer_id: UUID) -> dict[str, Any]:
    body = await queries.customer(uow.conn, customer_id)
    assert body is not None
    return body


async def register_customer(
    uow: UnitOfWork,
    *,
    now: datetime,
    name: str,
    email: str,
    phone: str | None = None,
    birth_date: date | None = None,
    address: str | None = None,
    acquisition_channel: AcquisitionChannel | None = None,
    referred_by: UUID | None = None,
    acquisition_cost: Decimal | None = None,
    timezone: str | None = None,
    relationship_type: RelationshipType = "transactional",
    consents: Mapping[ContactChannel, bool] | None = None,
    interests: Iterable[str] = (),
) -> CommandResult:
    """Register a customer; an email or phone that already belongs to one is a 409."""
    customer = Customer.register(
        customer_id=new_id(),
        name=name,
        email=email,
        phone=phone,
        birth_date=birth_date,
        address=address,
        acquisition_channel=acquisition_channel,
        referred_by=referred_by,
        acquisition_cost=acquisition_cost,
        timezone=timezone,
        relationship_type=relationship_type,
        consents=consents,
        interests=interests,
        now=now,
    )
    existing = await readmodel.existing_customer_with(uow.conn, email=customer.email, phone=customer.phone)
    if existing is not None:
        raise Conflict("a customer with this email or phone already exists", existing_customer_id=str(existing))
    if referred_by is not None and await queries.customer(uow.conn, referred_by) is None:
        raise InvalidInput(f"referring customer {referred_by} does not exist", field="referred_by")
    await _append_customer(uow, customer)
    await readmodel.save_customer(uow.conn, customer, now=now)
    return _customer_answer(201, await _customer_body(uow, customer.id), created=True)


async def update_profile(
    uow: UnitOfWork,
    *,
    customer_id: UUID,
    changes: Mapping[str, Any],
    expected_version: int | None,
    now: datetime,
) -> CommandResult:
    """Change profile fields (``If-Match`` checked first); records only what changed."""
    customer = await _load_customer(uow, customer_id)
    customer.ensure_exists()
    ensure_version_matches(expected_version, customer.version)
    customer.update_profile(changes, now=now)
    if customer.pending:
        await _append_customer(uow, customer)
        await readmodel.save_customer(uow.conn, customer, now=now)
    return _customer_answer(200, await _customer_body(uow, customer_id))


async def change_consents(
    uow: UnitOfWork,
    *,
    customer_id: UUID,
    consents: Mapping[ContactChannel, bool],
    source: ConsentSource,
    now: datetime,
    expected_version: int | None = None,
) -> CommandResult:
    """Grant or withdraw consent per channel."""
    customer = await _load_customer(uow, customer_id)
    customer.ensure_exists()
    ensure_version_matches(expected_version, customer.version)
    customer.change_consents(consents, source=source, now=now)
    if customer.pending:
        await _append_customer(uow, customer)
        await readmodel.save_customer(uow.conn, customer, now=now)
    return _customer_answer(200, await _customer_body(uow, customer_id))


async def assign_account_manager(
    uow: UnitOfWork,
    *,
    customer_id: UUID,
    account_manager_id: str,
    by: str | None,
    now: datetime,
    expected_version: int | None = None,
) -> CommandResult:
    """Make an account manager the customer's dedicated assistant."""
    customer = await _load_customer(uow, customer_id)
    customer.ensure_exists()
    ensure_version_matches(expected_version, customer.version)
    customer.assign_account_manager(account_manager_id, by=by, now=now)
    if customer.pending:
        await _append_customer(uow, customer)
        await readmodel.save_customer(uow.conn, customer, now=now)
    return _customer_answer(200, await _customer_body(uow, customer_id))


async def _load_pair(uow: UnitOfWork, survivor_id: UUID, duplicate_id: UUID) -> tuple[Customer, Customer]:
    """Both customers, locked. A missing survivor is the path's resource (404); a missing duplicate is a
    body field naming nobody (422), so a client can tell "this customer is gone" from "you named a wrong one"."""
    try:
        links = await readmodel.lock_customers(uow.conn, sorted({survivor_id, duplicate_id}))
    except NotFound:
        if not await readmodel.customer_exists(uow.conn, survivor_id):
            raise
        raise InvalidInput(f"duplicate customer {duplicate_id} does not exist", field="duplicate_id") from None
    loaded = []
    for customer_id in (survivor_id, duplicate_id):
        customer = Customer.rehydrate(e.event for e in await uow.store.load(uow.conn, str(customer_id)))
        customer.link(merged_into=links[customer_id].merged_into, erased_with_survivor=links[customer_id].erased)
        loaded.append(customer)
    return loaded[0], loaded[1]


async def verify_contact(
    uow: UnitOfWork,
    *,
    customer_id: UUID,
    channel: VerifiableChannel,
    method: str | None,
    by: str | None,
    now: datetime,
    expected_version: int | None = None,
) -> CommandResult:
    """Record that the customer proved they own their email or phone."""
    customer = await _load_customer(uow, customer_id)
    customer.ensure_exists()
    ensure_version_matches(expected_version, customer.version)
    customer.verify_contact(channel, method=method, by=by, now=now)
    if customer.pending:
        await _append_customer(uow, customer)
        await readmodel.save_customer(uow.conn, customer, now=now)
    return _customer_answer(200, await _customer_body(uow, customer_id))


async def replace_duplicate_rules(
    uow: UnitOfWork, *, rules: DuplicateRuleSet, by: str | None, now: datetime, expected_version: int | None
) -> CommandResult:
    """Replace the duplicate detection rules (``If-Match`` checked first); the same rules record nothing."""
    current = await queries.duplicate_rules(uow.conn, uow.store)
    ensure_version_matches(expected_version, current.version)
    current.replace(rules, by=by, now=now)
    if current.pending:
        await uow.append(
            stream_id=RULES_STREAM,
            stream_type="duplicate-rules",
            expected_version=current.expected_version,
            events=current.pull_events(),
            subject=RULES_STREAM,
        )
    body = queries.rules_body(current)
    return CommandResult(200, body, {"ETag": etag_for(body["version"])})


async def merge_customers(
    uow: UnitOfWork,
    *,
    survivor_id: UUID,
    duplicate_id: UUID,
    reason: str,
    by: str | None,
    now: datetime,
    confirm_verified_identities: bool = False,
) -> CommandResult:
    """Merge a duplicate into the survivor; the duplicate then answers with ``merged_into``.

    Operators merge; nothing in the platform merges on its own (the import links rows to existing
    customers instead). An automatic path would call ``Customer.merge(automatic=True)``, which refuses
    two verified identities.
    """
    survivor, duplicate = await _load_pair(uow, survivor_id, duplicate_id)
    survivor.ensure_exists()
    survivor.merge(
        duplicate, reason=reason, by=by, now=now, confirm_verified_identities=confirm_verified_identities
    )
    await _append_customer(uow, survivor)
    await readmodel.set_merged_into(uow.conn, duplicate.id, survivor.id)
    await readmodel.save_customer(uow.conn, survivor, now=now)
    return _customer_answer(200, await _customer_body(uow, survivor_id))


async def unmerge_customers(
    uow: UnitOfWork,
    *,
    survivor_id: UUID,
    duplicate_id: UUID,
    reason: str | None,
    by: str | None,
    now: datetime,
) -> CommandResult:
    """Reverse a merge: the duplicate stands on its own again."""
    survivor, duplicate = await _load_pair(uow, survivor_id, duplicate_id)
    survivor.unmerge(duplicate, reason=reason, by=by, now=now)
    await _append_customer(uow, survivor)
    await readmodel.set_merged_into(uow.conn, duplicate.id, None)
    await readmodel.save_customer(uow.conn, survivor, now=now)
    return _customer_answer(200, await _customer_body(uow, survivor_id))


async def erase_customer(
    uow: UnitOfWork,
    *,
    customer_id: UUID,
    by: str | None,
    now: datetime,
    acknowledgers: Iterable[str] = (),
) -> CommandResult:
    """Right to be forgotten: ``CustomerErased``, personal read-model data deleted, key destroyed.

    The customer service's own data is clean when this transaction commits, so it acknowledges in
    the same transaction (``CustomerDataErased``) and opens the erasure's ledger with the other
    ``acknowledgers`` pending until their own acknowledgements arrive.
    """
    customer = await _load_customer(uow, customer_id)
    customer.erase(by=by, now=now)
    await _append_customer(uow, customer)
    erasure_event_id = uow.recorded[-1].event_id
    await readmodel.erase_customer(uow.conn, customer_id, now=now, version=customer.version)
    # Duplicates merged into this customer are the same person: their data goes too.
    duplicates = await readmodel.merged_duplicates(uow.conn, customer_id)
    if duplicates:
        await readmodel.forget_personal_data(uow.conn, duplicates, now=now)
    answers = documents = 0
    for person in [customer_id, *duplicates]:
        answers += await erasure.forget_stored_answers(uow.conn, person)
        documents += await export_rows.forget(uow.conn, person)
        await uow.store.keys.destroy(uow.conn, str(person))
    notes = await note_rows.forget(uow.conn, [customer_id, *duplicates])
    details = {
        "profiles_erased": 1 + len(duplicates),
        "notes_deleted": notes,
        "stored_answers_redacted": answers,
        "export_documents_deleted": documents,
        "keys_destroyed": 1 + len(duplicates),
    }
    await uow.append(
        stream_id=erasure_stream(customer_id),
        stream_type="erasure",
        expected_version=0,
        events=[
            CustomerDataErased(
                customer_id=customer_id,
                service="customer",
                erased_at=now,
                erasure_event_id=erasure_event_id,
                details=details,
            )
        ],
        subject=str(customer_id),
    )
    await erasure.record_requested(uow.conn, customer_id, done={"customer": details}, pending=acknowledgers, now=now)
    return CommandResult(204, None)


# --- orders ---------------------------------------------------------------------------------------


async def _load_order(uow: UnitOfWork, order_id: UUID) -> Order:
    history = await uow.store.load(uow.conn, str(order_id))
    if not history or history[0].stream_type != "order":
        raise NotFound(f"order {order_id} does not exist")
    return Order.rehydrate(e.event for e in history)


async def _append_order(uow: UnitOfWork, order: Order) -> None:
    expected = order.expected_version
    events = order.pull_events()
    await uow.append(
        stream_id=str(order.id),
        stream_type="order",
        expected_version=expected,
        events=events,
        subject=str(order.customer_id),
    )
    for offset, event in enumerate(events, start=1):
        await readmodel.apply_order_event(uow.conn, event, expected + offset)


async def _order_answer(uow: UnitOfWork, order_id: UUID, status: int = 200) -> CommandResult:
    body = await queries.order(uow.conn, order_id)
    assert body is not None
    headers = {"ETag": etag_for(body["version"])}
    if status == 201:
        headers["Location"] = f"/v1/orders/{order_id}"
    return CommandResult(status, body, headers)


async def place_order(
    uow: UnitOfWork,
    *,
    customer_id: UUID,
    lines: Iterable[LineRequest],
    currency: str,
    channel: str,
    now: datetime,
    offer_code: str | None = None,
    promised_delivery_date: date | None = None,
) -> CommandResult:
    """Place an order for an active customer (merged away or erased → 409)."""
    # Locking the customer row keeps an erasure or merge from slipping in between check and append.
    customer = await _load_customer(uow, customer_id)
    order = Order.place(
        order_id=new_id(),
        customer=customer,
        lines=lines,
        currency=currency,
        channel=channel,
        now=now,
        offer_code=offer_code,
        promised_delivery_date=promised_delivery_date,
    )
    await _append_order(uow, order)
    return await _order_answer(uow, order.id, 201)


async def ship_order(
    uow: UnitOfWork,
    *,
    order_id: UUID,
    now: datetime,
    carrier: str | None = None,
    tracking_number: str | None = None,
) -> CommandResult:
    """Mark a placed order shipped."""
    order = await _load_order(uow, order_id)
    order.ship(now=now, carrier=carrier, tracking_number=tracking_number)
    await _append_order(uow, order)
    return await _order_answer(uow, order_id)


async def deliver_order(uow: UnitOfWork, *, order_id: UUID, now: datetime) -> CommandResult:
    """Mark a shipped order delivered."""
    order = await _load_order(uow, order_id)
    order.deliver(now=now)
    await _append_order(uow, order)
    return await _order_answer(uow, order_id)


async def cancel_order(uow: UnitOfWork, *, order_id: UUID, now: datetime, reason: str | None = None) -> CommandResult:
    """Cancel an order that is not delivered yet."""
    order = await _load_order(uow, order_id)
    order.cancel(now=now, reason=reason)
    await _append_order(uow, order)
    return await _order_answer(uow, order_id)


async def return_order(
    uow: UnitOfWork, *, order_id: UUID, now: datetime, window: timedelta, reason: str | None = None
) -> CommandResult:
    """Take back a delivered order within the return window."""
    order = await _load_order(uow, order_id)
    order.return_(now=now, window=window, reason=reason)
    await _append_order(uow, order)
    return await _order_answer(uow, order_id)


# --- invoices and payments ------------------------------------------------------------------------


async def _invoice_answer(uow: UnitOfWork, invoice_id: UUID, status: int) -> CommandResult:
    body = await queries.invoice(uow.conn, invoice_id)
    assert body is not None
    headers = {"ETag": etag_for(body["version"])}
    if status == 201:
        headers["Location"] = f"/v1/invoices/{invoice_id}"
    return CommandResult(status, body, headers)


async def issue_invoice(uow: UnitOfWork, *, order_id: UUID, due_date: date, now: datetime) -> CommandResult:
    """Invoice an order (once)."""
    order = await _load_order(uow, order_id)
    invoice = Invoice.issue(invoice_id=new_id(), order=order, due_date=due_date, now=now)
    events = invoice.pull_events()
    await uow.append(
        stream_id=str(invoice.id),
        stream_type="invoice",
        expected_version=0,
        events=events,
        subject=str(invoice.customer_id),
    )
    issued = events[0]
    assert isinstance(issued, InvoiceIssued)
    await readmodel.insert_invoice(uow.conn, issued, 1)
    return await _invoice_answer(uow, invoice.id, 201)


async def _load_invoice(uow: UnitOfWork, invoice_id: UUID) -> Invoice:
    await readmodel.lock_invoice(uow.conn, invoice_id)
    return Invoice.rehydrate(e.event for e in await uow.store.load(uow.conn, str(invoice_id)))


async def receive_payment(
    uow: UnitOfWork, *, invoice_id: UUID, amount: Decimal, method: PaymentMethod, now: datetime
) -> CommandResult:
    """Record a payment against an invoice; partial payments add up, overpayment is a 422."""
    invoice = await _load_invoice(uow, invoice_id)
    payment_id = new_id()
    invoice.pay(payment_id=payment_id, amount=amount, method=method, now=now)
    expected = invoice.expected_version
    events = invoice.pull_events()
    await uow.append(
        stream_id=str(invoice.id),
        stream_type="invoice",
        expected_version=expected,
        events=events,
        subject=str(invoice.customer_id),
    )
    received = events[0]
    assert isinstance(received, PaymentReceived)
    await readmodel.record_payment(uow.conn, received, expected + 1)
    body = await queries.payment(uow.conn, payment_id)
    return CommandResult(201, body, {"Location": f"/v1/payments/{payment_id}"})
