"""Command handlers: load the aggregate, let it decide, append its events and update read models.

Each handler runs inside one unit of work (``shared.store.idempotent_commands.run_command``), so events, outbox
rows, read-model rows and the idempotency record commit together or not at all. Handlers work only
through the ``Work[ReadModel]`` port (events plus ``application.ports.ReadModel``) and return a
``shared.store.outcomes`` outcome, which ``api/`` turns into status, ``ETag`` and ``Location``; so they run
on PostgreSQL or in memory alike. They take their inputs as keyword arguments and ``now`` from the
caller's clock, which keeps them deterministic in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeAlias, Unpack
from uuid import UUID

from services.customer.application import queries
from services.customer.application.ports import ReadModel
from services.customer.domain.identity import RULES_STREAM, DuplicateRules
from services.customer.domain.model import Customer, Invoice, NewCustomer, NewOrder, Order
from shared.contracts.customer import (
    ConsentSource,
    ContactChannel,
    DuplicateRuleSet,
    InvoiceIssued,
    PaymentMethod,
    PaymentReceived,
    VerifiableChannel,
)
from shared.contracts.privacy import CustomerDataErased, erasure_stream
from shared.errors import Conflict, InvalidInput, NotFound
from shared.ids import new_id
from shared.store.eventstore import RecordedEvent
from shared.store.outcomes import Created, Deleted, Updated
from shared.store.ports import Work
from shared.store.versions import ensure_version_matches

CustomerWork: TypeAlias = Work[ReadModel]
"""What every customer command handler works with: the event log and the customer read model."""


async def _customer_updated(uow: CustomerWork, customer_id: UUID) -> Updated:
    body = await _customer_body(uow, customer_id)
    return Updated(body, version=body["version"])


async def _load_customer(uow: CustomerWork, customer_id: UUID) -> Customer:
    """Lock the customer's row, then rebuild the aggregate from its stream."""
    links = await uow.rows.lock_customer(customer_id)
    customer = Customer.rehydrate(e.event for e in await uow.load(str(customer_id)))
    customer.link(merged_into=links.merged_into, erased_with_survivor=links.erased)
    return customer


async def _append_customer(uow: CustomerWork, customer: Customer) -> list[RecordedEvent]:
    expected = customer.expected_version
    return await uow.append(
        stream_id=str(customer.id),
        stream_type="customer",
        expected_version=expected,
        events=customer.pull_events(),
        subject=str(customer.id),
    )


async def _customer_body(uow: CustomerWork, customer_id: UUID) -> dict[str, Any]:
    body = await uow.rows.customer(customer_id)
    assert body is not None
    return body


async def _change_customer(
    uow: CustomerWork,
    customer_id: UUID,
    expected_version: int | None,
    now: datetime,
    decide: Callable[[Customer], object],
) -> Updated:
    """Run one decision on one existing customer: the single shape every profile-level change shares.

    The row is locked and the stream replayed, a missing customer is a 404, ``If-Match`` is checked before the
    aggregate decides, and events are appended and the row saved only when the decision recorded something
    (so repeating a change is a no-op that still answers the current body and version).
    """
    customer = await _load_customer(uow, customer_id)
    customer.ensure_exists()
    ensure_version_matches(expected_version, customer.version)
    decide(customer)
    if customer.pending:
        await _append_customer(uow, customer)
        await uow.rows.save_customer(customer, now=now)
    return await _customer_updated(uow, customer_id)


async def register_customer(uow: CustomerWork, *, now: datetime, **profile: Unpack[NewCustomer]) -> Created:
    """Register a customer; an email or phone that already belongs to one is a 409."""
    customer = Customer.register(customer_id=new_id(), now=now, **profile)
    existing = await uow.rows.existing_customer_with(email=customer.email, phone=customer.phone)
    if existing is not None:
        raise Conflict("a customer with this email or phone already exists", existing_customer_id=str(existing))
    referred_by = customer.referred_by
    if referred_by is not None and await uow.rows.customer(referred_by) is None:
        raise InvalidInput(f"referring customer {referred_by} does not exist", field="referred_by")
    await _append_customer(uow, customer)
    await uow.rows.save_customer(customer, now=now)
    body = await _customer_body(uow, customer.id)
    return Created(body, str(customer.id), version=body["version"])


async def update_profile(
    uow: CustomerWork,
    *,
    customer_id: UUID,
    changes: Mapping[str, Any],
    expected_version: int | None,
    now: datetime,
) -> Updated:
    """Change profile fields (``If-Match`` checked first); records only what changed."""
    return await _change_customer(
        uow, customer_id, expected_version, now, lambda customer: customer.update_profile(changes, now=now)
    )


async def change_consents(
    uow: CustomerWork,
    *,
    customer_id: UUID,
    consents: Mapping[ContactChannel, bool],
    source: ConsentSource,
    now: datetime,
    expected_version: int | None = None,
) -> Updated:
    """Grant or withdraw consent per channel."""
    return await _change_customer(
        uow,
        customer_id,
        expected_version,
        now,
        lambda customer: customer.change_consents(consents, source=source, now=now),
    )


async def assign_account_manager(
    uow: CustomerWork,
    *,
    customer_id: UUID,
    account_manager_id: str,
    by: str | None,
    now: datetime,
    expected_version: int | None = None,
) -> Updated:
    """Make an account manager the customer's dedicated assistant."""
    return await _change_customer(
        uow,
        customer_id,
        expected_version,
        now,
        lambda customer: customer.assign_account_manager(account_manager_id, by=by, now=now),
    )


async def _load_pair(uow: CustomerWork, survivor_id: UUID, duplicate_id: UUID) -> tuple[Customer, Customer]:
    """Both customers, locked. A missing survivor is the path's resource (404); a missing duplicate is a
    body field naming nobody (422), so a client can tell "this customer is gone" from "you named a wrong one"."""
    try:
        links = await uow.rows.lock_customers(sorted({survivor_id, duplicate_id}))
    except NotFound:
        if not await uow.rows.customer_exists(survivor_id):
            raise
        raise InvalidInput(f"duplicate customer {duplicate_id} does not exist", field="duplicate_id") from None
    loaded = []
    for customer_id in (survivor_id, duplicate_id):
        customer = Customer.rehydrate(e.event for e in await uow.load(str(customer_id)))
        customer.link(merged_into=links[customer_id].merged_into, erased_with_survivor=links[customer_id].erased)
        loaded.append(customer)
    return loaded[0], loaded[1]


async def verify_contact(
    uow: CustomerWork,
    *,
    customer_id: UUID,
    channel: VerifiableChannel,
    method: str | None,
    by: str | None,
    now: datetime,
    expected_version: int | None = None,
) -> Updated:
    """Record that the customer proved they own their email or phone."""
    return await _change_customer(
        uow,
        customer_id,
        expected_version,
        now,
        lambda customer: customer.verify_contact(channel, method=method, by=by, now=now),
    )


async def replace_duplicate_rules(
    uow: CustomerWork, *, rules: DuplicateRuleSet, by: str | None, now: datetime, expected_version: int | None
) -> Updated:
    """Replace the duplicate detection rules (``If-Match`` checked first); the same rules record nothing."""
    current = DuplicateRules.rehydrate(e.event for e in await uow.load(RULES_STREAM))
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
    return Updated(body, version=current.version)


async def merge_customers(
    uow: CustomerWork,
    *,
    survivor_id: UUID,
    duplicate_id: UUID,
    reason: str,
    by: str | None,
    now: datetime,
    confirm_verified_identities: bool = False,
) -> Updated:
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
    await uow.rows.set_merged_into(duplicate.id, survivor.id)
    await uow.rows.save_customer(survivor, now=now)
    return await _customer_updated(uow, survivor_id)


async def unmerge_customers(
    uow: CustomerWork,
    *,
    survivor_id: UUID,
    duplicate_id: UUID,
    reason: str | None,
    by: str | None,
    now: datetime,
) -> Updated:
    """Reverse a merge: the duplicate stands on its own again."""
    survivor, duplicate = await _load_pair(uow, survivor_id, duplicate_id)
    survivor.unmerge(duplicate, reason=reason, by=by, now=now)
    await _append_customer(uow, survivor)
    await uow.rows.set_merged_into(duplicate.id, None)
    await uow.rows.save_customer(survivor, now=now)
    return await _customer_updated(uow, survivor_id)


async def erase_customer(
    uow: CustomerWork,
    *,
    customer_id: UUID,
    by: str | None,
    now: datetime,
    acknowledgers: Iterable[str] = (),
) -> Deleted:
    """Right to be forgotten: ``CustomerErased``, personal read-model data deleted, key destroyed.

    The customer service's own data is clean when this transaction commits, so it acknowledges in
    the same transaction (``CustomerDataErased``) and opens the erasure's ledger with the other
    ``acknowledgers`` pending until their own acknowledgements arrive.
    """
    customer = await _load_customer(uow, customer_id)
    customer.erase(by=by, now=now)
    recorded = await _append_customer(uow, customer)
    erasure_event_id = recorded[-1].event_id
    await uow.rows.erase_customer(customer_id, now=now, version=customer.version)
    # Duplicates merged into this customer are the same person: their data goes too.
    duplicates = await uow.rows.merged_duplicates(customer_id)
    if duplicates:
        await uow.rows.forget_personal_data(duplicates, now=now)
    answers = documents = 0
    for person in [customer_id, *duplicates]:
        answers += await uow.rows.forget_stored_answers(person)
        documents += await uow.rows.forget_export_documents(person)
        await uow.rows.destroy_key(str(person))
    notes = await uow.rows.forget_notes([customer_id, *duplicates])
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
    await uow.rows.record_erasure_requested(customer_id, done={"customer": details}, pending=acknowledgers, now=now)
    return Deleted()


# --- orders ---------------------------------------------------------------------------------------


async def _load_order(uow: CustomerWork, order_id: UUID) -> Order:
    history = await uow.load(str(order_id))
    if not history or history[0].stream_type != "order":
        raise NotFound(f"order {order_id} does not exist")
    return Order.rehydrate(e.event for e in history)


async def _append_order(uow: CustomerWork, order: Order) -> None:
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
        await uow.rows.apply_order_event(event, expected + offset)


async def _order_body(uow: CustomerWork, order_id: UUID) -> dict[str, Any]:
    body = await uow.rows.order(order_id)
    assert body is not None
    return body


async def _order_updated(uow: CustomerWork, order_id: UUID) -> Updated:
    body = await _order_body(uow, order_id)
    return Updated(body, version=body["version"])


async def _change_order(uow: CustomerWork, order_id: UUID, decide: Callable[[Order], object]) -> Updated:
    """Run one status change on one order: load it (404 if none), let it decide, append and answer.

    The order refuses a change its status does not allow (409), so every decision records an event.
    """
    order = await _load_order(uow, order_id)
    decide(order)
    await _append_order(uow, order)
    return await _order_updated(uow, order_id)


async def place_order(uow: CustomerWork, *, customer_id: UUID, now: datetime, **request: Unpack[NewOrder]) -> Created:
    """Place an order for an active customer (merged away or erased → 409)."""
    # Locking the customer row keeps an erasure or merge from slipping in between check and append.
    customer = await _load_customer(uow, customer_id)
    order = Order.place(order_id=new_id(), customer=customer, now=now, **request)
    await _append_order(uow, order)
    body = await _order_body(uow, order.id)
    return Created(body, str(order.id), version=body["version"])


async def ship_order(
    uow: CustomerWork,
    *,
    order_id: UUID,
    now: datetime,
    carrier: str | None = None,
    tracking_number: str | None = None,
) -> Updated:
    """Mark a placed order shipped."""
    return await _change_order(
        uow, order_id, lambda order: order.ship(now=now, carrier=carrier, tracking_number=tracking_number)
    )


async def deliver_order(uow: CustomerWork, *, order_id: UUID, now: datetime) -> Updated:
    """Mark a shipped order delivered."""
    return await _change_order(uow, order_id, lambda order: order.deliver(now=now))


async def cancel_order(uow: CustomerWork, *, order_id: UUID, now: datetime, reason: str | None = None) -> Updated:
    """Cancel an order that is not delivered yet."""
    return await _change_order(uow, order_id, lambda order: order.cancel(now=now, reason=reason))


async def return_order(
    uow: CustomerWork, *, order_id: UUID, now: datetime, window: timedelta, reason: str | None = None
) -> Updated:
    """Take back a delivered order within the return window."""
    return await _change_order(uow, order_id, lambda order: order.return_(now=now, window=window, reason=reason))


# --- invoices and payments ------------------------------------------------------------------------


async def issue_invoice(uow: CustomerWork, *, order_id: UUID, due_date: date, now: datetime) -> Created:
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
    await uow.rows.insert_invoice(issued, 1)
    body = await uow.rows.invoice(invoice.id)
    assert body is not None
    return Created(body, str(invoice.id), version=body["version"])


async def _load_invoice(uow: CustomerWork, invoice_id: UUID) -> Invoice:
    await uow.rows.lock_invoice(invoice_id)
    return Invoice.rehydrate(e.event for e in await uow.load(str(invoice_id)))


async def receive_payment(
    uow: CustomerWork, *, invoice_id: UUID, amount: Decimal, method: PaymentMethod, now: datetime
) -> Created:
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
    await uow.rows.record_payment(received, expected + 1)
    return Created(await uow.rows.payment(payment_id), str(payment_id))
