"""The customer domain's rules, pure and fast."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.customer.domain.model import (
    Customer,
    Invoice,
    LineRequest,
    Order,
    canonical_email,
    is_duplicate_candidate,
    match_evidence,
    normalise_email,
    normalise_phone,
    similar_names,
)
from shared.contracts.customer import (
    ContactPreferencesChanged,
    CustomerProfileUpdated,
    CustomerRegistered,
    CustomersMerged,
    OrderPlaced,
    PaymentOverdue,
    PaymentReceived,
)
from shared.errors import Conflict, Gone, InvalidInput
from shared.ids import new_id

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def a_customer(**overrides: Any) -> Customer:
    fields: dict[str, Any] = {
        "customer_id": new_id(),
        "name": "Ayşe Demir",
        "email": f"ayse.{new_id().hex[-12:]}@example.com",
        "now": NOW,
    }
    fields.update(overrides)
    customer = Customer.register(**fields)
    return Customer.rehydrate(customer.pull_events())


def a_line(**overrides: Any) -> LineRequest:
    fields: dict[str, Any] = {
        "sku": "SKU-1",
        "name": "Kettle",
        "category": "kitchen",
        "quantity": 2,
        "unit_price": Decimal("19.99"),
        "unit_cost": Decimal("12.50"),
    }
    fields.update(overrides)
    return LineRequest(**fields)


def an_order(customer: Customer | None = None, **overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "order_id": new_id(),
        "customer": customer or a_customer(),
        "lines": [a_line()],
        "currency": "EUR",
        "channel": "web",
        "now": NOW,
    }
    fields.update(overrides)
    order = Order.place(**fields)
    return Order.rehydrate(order.pull_events())


def test_emails_are_trimmed_and_lower_cased() -> None:
    assert normalise_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"


def test_a_malformed_email_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        normalise_email("not-an-email")


def test_phones_are_normalised_to_e164() -> None:
    assert normalise_phone("+90 (555) 123-45-67") == "+905551234567"
    with pytest.raises(InvalidInput):
        normalise_phone("12345")


def test_canonical_email_drops_tags_and_gmail_dots() -> None:
    assert canonical_email("jane.doe+shop@googlemail.com") == "janedoe@gmail.com"
    assert canonical_email("jane.doe+x@corp.example") == "jane.doe@corp.example"


def test_registration_records_normalised_identity_and_default_consents() -> None:
    customer = Customer.register(
        customer_id=new_id(), name=" Jane ", email=" JANE@Example.com ", phone="+44 20 7946 0958", now=NOW
    )
    [event] = customer.pending
    assert isinstance(event, CustomerRegistered)
    assert (event.name, event.email, event.phone) == ("Jane", "jane@example.com", "+442079460958")
    assert not any(event.consents.model_dump(exclude={"service_followups"}).values())
    assert event.consents.service_followups is True  # service follow-ups are on until the customer opts out


def test_registration_refuses_a_negative_acquisition_cost() -> None:
    with pytest.raises(InvalidInput):
        a_customer(acquisition_cost=Decimal("-1"))


def test_profile_update_carries_only_what_changed() -> None:
    customer = a_customer(name="Jane", timezone="Europe/Istanbul")
    customer.update_profile({"name": "Jane", "timezone": "Europe/London"}, now=NOW)
    [event] = customer.pending
    assert isinstance(event, CustomerProfileUpdated)
    assert event.changed_fields == ["timezone"]
    assert event.timezone == "Europe/London"


def test_an_update_that_changes_nothing_records_nothing() -> None:
    customer = a_customer(name="Jane")
    customer.update_profile({"name": "Jane"}, now=NOW)
    assert customer.pending == []


def test_consent_changes_are_one_event_per_changed_channel() -> None:
    customer = a_customer(consents={"email": True})
    customer.change_consents({"email": True, "sms": True, "push": False}, source="operator", now=NOW)
    assert [(e.channel, e.granted) for e in customer.pending if isinstance(e, ContactPreferencesChanged)] == [
        ("sms", True)
    ]


def test_merge_records_the_evidence_and_marks_the_duplicate() -> None:
    survivor = a_customer(name="Jane Doe", birth_date=date(1990, 5, 1))
    duplicate = a_customer(name="jane  doe", birth_date=date(1990, 5, 1))
    survivor.merge(duplicate, reason="same person", by="agent-1", now=NOW)
    [event] = survivor.pending
    assert isinstance(event, CustomersMerged)
    assert event.evidence == ["name", "birth_date"]
    assert duplicate.merged_into == survivor.id


def test_merging_into_itself_or_an_already_merged_one_is_a_conflict() -> None:
    survivor, duplicate = a_customer(), a_customer()
    with pytest.raises(Conflict):
        survivor.merge(survivor, reason="x", by=None, now=NOW)
    survivor.merge(duplicate, reason="dup", by=None, now=NOW)
    with pytest.raises(Conflict):
        a_customer().merge(duplicate, reason="again", by=None, now=NOW)


def test_unmerge_needs_a_previous_merge() -> None:
    survivor, duplicate = a_customer(), a_customer()
    with pytest.raises(Conflict):
        survivor.unmerge(duplicate, reason=None, by=None, now=NOW)
    survivor.merge(duplicate, reason="dup", by=None, now=NOW)
    survivor.unmerge(duplicate, reason="not the same", by=None, now=NOW)
    assert duplicate.merged_into is None
    assert survivor.merged_duplicates == set()


def test_an_erased_customer_is_gone_and_cannot_order() -> None:
    customer = a_customer()
    customer.erase(by="admin", now=NOW)
    assert customer.name is None
    with pytest.raises(Gone):
        customer.erase(by="admin", now=NOW)
    with pytest.raises(Conflict):
        an_order(customer)


def test_a_merged_away_customer_cannot_order() -> None:
    survivor, duplicate = a_customer(), a_customer()
    survivor.merge(duplicate, reason="dup", by=None, now=NOW)
    with pytest.raises(Conflict) as refused:
        an_order(duplicate)
    assert refused.value.extra["merged_into"] == str(survivor.id)


def test_order_totals_and_margin_are_exact_decimals() -> None:
    order = Order.place(
        order_id=new_id(),
        customer=a_customer(),
        currency="EUR",
        channel="web",
        now=NOW,
        lines=[
            a_line(quantity=3, unit_price=Decimal("0.10"), unit_cost=Decimal("0.05")),
            a_line(sku="SKU-2", quantity=1, unit_price=Decimal("1890.00"), unit_cost=Decimal("1500.00")),
        ],
    )
    [event] = order.pending
    assert isinstance(event, OrderPlaced)
    assert event.total == Decimal("1890.30")
    assert event.margin == Decimal("390.15")
    assert event.lines[0].line_total == Decimal("0.30")


def test_margin_is_unknown_when_a_line_has_no_cost() -> None:
    order = Order.place(
        order_id=new_id(),
        customer=a_customer(),
        currency="EUR",
        channel="web",
        now=NOW,
        lines=[a_line(), a_line(sku="SKU-2", unit_cost=None)],
    )
    [event] = order.pending
    assert isinstance(event, OrderPlaced)
    assert event.margin is None and event.cost is None


def test_order_lifecycle_and_impossible_transitions_name_the_status() -> None:
    order = an_order()
    with pytest.raises(Conflict) as early:
        order.deliver(now=NOW)
    assert early.value.extra["current_status"] == "placed"
    order.ship(now=NOW)
    order.deliver(now=NOW)
    with pytest.raises(Conflict) as late:
        order.cancel(now=NOW)
    assert late.value.extra["current_status"] == "delivered"


def test_returns_only_within_the_window() -> None:
    order = an_order()
    order.ship(now=NOW)
    order.deliver(now=NOW)
    with pytest.raises(Conflict):
        order.return_(now=NOW + timedelta(days=31), window=timedelta(days=30))
    order.return_(now=NOW + timedelta(days=30), window=timedelta(days=30))
    assert order.status == "returned"


def a_paid_invoice(order: Order, paid: Decimal = Decimal("0")) -> Invoice:
    invoice = Invoice.issue(invoice_id=new_id(), order=order, due_date=date(2026, 3, 10), now=NOW)
    if paid:
        invoice.pay(payment_id=new_id(), amount=paid, method="card", now=NOW)
    return Invoice.rehydrate(invoice.pull_events())


def test_partial_payments_add_up_and_overpayment_is_refused() -> None:
    invoice = a_paid_invoice(an_order(), Decimal("10.00"))  # total 39.98
    invoice.pay(payment_id=new_id(), amount=Decimal("29.98"), method="cash", now=NOW)
    last = invoice.pending[-1]
    assert isinstance(last, PaymentReceived)
    assert last.fully_paid and last.outstanding == Decimal("0")
    with pytest.raises(InvalidInput):
        invoice.pay(payment_id=new_id(), amount=Decimal("0.01"), method="cash", now=NOW)


def test_overdue_is_reported_once_and_only_after_the_due_date() -> None:
    invoice = a_paid_invoice(an_order())
    assert not invoice.check_overdue(now=datetime(2026, 3, 10, 23, 0, tzinfo=UTC))
    assert invoice.check_overdue(now=datetime(2026, 3, 13, tzinfo=UTC))
    [event] = invoice.pending
    assert isinstance(event, PaymentOverdue) and event.days_overdue == 3
    assert not invoice.check_overdue(now=datetime(2026, 3, 20, tzinfo=UTC))


def test_duplicate_candidates_need_a_mailbox_or_name_and_birth_date() -> None:
    assert is_duplicate_candidate(["email"])
    assert is_duplicate_candidate(["name", "birth_date"])
    assert not is_duplicate_candidate(["name"])
    left = a_customer(email="jane.doe+a@gmail.com").identity
    right = a_customer(email="janedoe@gmail.com").identity
    assert "email" in match_evidence(left, right)


def test_currency_must_be_an_active_iso_4217_code() -> None:
    for currency in ("ABC", "XXX", "eur", "EURO"):
        with pytest.raises(InvalidInput):
            an_order(currency=currency)
    assert an_order(currency="TRY").currency == "TRY"


def test_names_one_letter_apart_are_similar_but_short_different_ones_are_not() -> None:
    assert similar_names("Ali Can", "Ali Cen")
    assert similar_names("Ayşe Demir", "AYSE  DEMIR")
    assert not similar_names("Bo Li", "Bo Lee")
    assert not similar_names("Jane", None)


def test_a_merged_away_customer_cannot_change_or_absorb() -> None:
    survivor, duplicate, third = a_customer(), a_customer(), a_customer()
    survivor.merge(duplicate, reason="dup", by=None, now=NOW)
    for change in (
        lambda: duplicate.update_profile({"address": "x"}, now=NOW),
        lambda: duplicate.change_consents({"sms": True}, source="operator", now=NOW),
        lambda: duplicate.assign_account_manager("emp-1", by=None, now=NOW),
        lambda: duplicate.merge(third, reason="x", by=None, now=NOW),
    ):
        with pytest.raises(Conflict) as refused:
            change()
        assert refused.value.extra["current_status"] == "merged"
    assert duplicate.pending == []


def test_a_customer_with_duplicates_of_its_own_cannot_be_merged_away() -> None:
    survivor, duplicate, other = a_customer(), a_customer(), a_customer()
    survivor.merge(duplicate, reason="dup", by=None, now=NOW)
    with pytest.raises(Conflict):
        other.merge(survivor, reason="x", by=None, now=NOW)


def test_an_erased_duplicate_cannot_be_merged_and_a_merge_needs_a_reason() -> None:
    survivor, erased = a_customer(), a_customer()
    erased.erase(by=None, now=NOW)
    with pytest.raises(Conflict) as refused:
        survivor.merge(erased, reason="dup", by=None, now=NOW)
    assert refused.value.extra["current_status"] == "erased"
    with pytest.raises(InvalidInput):
        survivor.merge(a_customer(), reason="  ", by=None, now=NOW)


def test_a_merge_and_its_unmerge_survive_rehydration() -> None:
    registered = Customer.register(customer_id=new_id(), name="Jane", email="jane.r@example.com", now=NOW)
    history = registered.pull_events()
    duplicate = a_customer()
    survivor = Customer.rehydrate(history)
    survivor.merge(duplicate, reason="dup", by=None, now=NOW)
    history += survivor.pull_events()
    survivor = Customer.rehydrate(history)
    assert survivor.merged_duplicates == {duplicate.id} and survivor.version == 2
    survivor.unmerge(duplicate, reason=None, by=None, now=NOW)
    history += survivor.pull_events()
    assert Customer.rehydrate(history).merged_duplicates == set()


def test_a_duplicate_erased_with_its_survivor_is_gone() -> None:
    survivor, duplicate = a_customer(), a_customer()
    duplicate.link(merged_into=survivor.id, erased_with_survivor=True)
    with pytest.raises(Gone):
        duplicate.erase(by=None, now=NOW)
    with pytest.raises(Conflict):
        an_order(duplicate)
