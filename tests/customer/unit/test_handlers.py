"""Customer command handlers on in-memory ports: the events they append, the outcome, the refusals.

Each handler runs on ``FakeWork(fake_rows=InMemoryReadModel())``: the same code as in production,
with no database. The API tests run the same handlers on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest

from services.customer.application import handlers
from services.customer.domain.identity import RULES_STREAM
from services.customer.domain.model import LineRequest
from shared.contracts.customer import (
    AccountManagerAssigned,
    ContactPreferencesChanged,
    ContactVerified,
    CustomerErased,
    CustomerProfileUpdated,
    CustomerRegistered,
    CustomersMerged,
    CustomersUnmerged,
    DuplicateRulesChanged,
    DuplicateRuleSet,
    InvoiceIssued,
    OrderCancelled,
    OrderDelivered,
    OrderPlaced,
    OrderReturned,
    OrderShipped,
    PaymentReceived,
)
from shared.contracts.privacy import CustomerDataErased, erasure_stream
from shared.errors import Conflict, Gone, InvalidInput, NotFound, PreconditionFailed
from shared.ids import new_id
from shared.store.outcomes import Created, Deleted, Updated
from shared.testing.fakes import FakeWork
from tests.customer.fakes import InMemoryReadModel

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
Work = FakeWork[InMemoryReadModel]


@pytest.fixture
def work() -> Work:
    return FakeWork(fake_rows=InMemoryReadModel())


async def given_customer(work: Work, name: str = "Ayşe Yilmaz", email: str = "ayse@example.com",
                         phone: str | None = None) -> UUID:
    """A registered customer, its events not counted among those a test asserts on."""
    created = await handlers.register_customer(work, now=NOW, name=name, email=email, phone=phone,
                                               consents={"email": True})
    work.appended.clear()
    return UUID(created.resource_id)


# --- customers ------------------------------------------------------------------------------------


async def test_register_appends_customer_registered_and_answers_created(work: Work) -> None:
    outcome = await handlers.register_customer(work, now=NOW, name="  Ayşe Yilmaz ", email="Ayse@Example.com",
                                               consents={"email": True})
    assert isinstance(outcome, Created)
    [event] = work.events()
    assert isinstance(event, CustomerRegistered)
    assert (event.name, event.email, event.registered_at) == ("Ayşe Yilmaz", "ayse@example.com", NOW)
    assert outcome.resource_id == str(event.customer_id) == outcome.resource["id"]
    assert (outcome.version, outcome.resource["status"], outcome.resource["email"]) == (1, "active",
                                                                                        "ayse@example.com")
    assert work.rows.customers[event.customer_id]["consents"]["email"] is True


async def test_register_with_an_email_taken_is_a_conflict_naming_the_holder(work: Work) -> None:
    holder = await given_customer(work, email="ayse@example.com")
    with pytest.raises(Conflict) as refused:
        await handlers.register_customer(work, now=NOW, name="Other", email="AYSE@example.com")
    assert refused.value.extra["existing_customer_id"] == str(holder)
    assert work.events() == []


async def test_register_referred_by_nobody_is_invalid(work: Work) -> None:
    with pytest.raises(InvalidInput):
        await handlers.register_customer(work, now=NOW, name="A", email="a@example.com", referred_by=new_id())
    assert work.events() == []


async def test_update_profile_records_what_changed_and_checks_if_match(work: Work) -> None:
    customer_id = await given_customer(work)
    with pytest.raises(PreconditionFailed):
        await handlers.update_profile(work, customer_id=customer_id, changes={"name": "X"}, expected_version=2,
                                      now=NOW)
    outcome = await handlers.update_profile(work, customer_id=customer_id, changes={"name": "Ayşe Kaya"},
                                            expected_version=1, now=NOW)
    [event] = work.events(str(customer_id))
    assert isinstance(event, CustomerProfileUpdated)
    assert (event.changed_fields, event.name) == (["name"], "Ayşe Kaya")
    assert isinstance(outcome, Updated)
    assert (outcome.version, outcome.resource["name"]) == (2, "Ayşe Kaya")
    assert work.rows.locked == [customer_id, customer_id]


async def test_update_profile_changing_nothing_appends_nothing(work: Work) -> None:
    customer_id = await given_customer(work)
    outcome = await handlers.update_profile(work, customer_id=customer_id, changes={"name": "Ayşe Yilmaz"},
                                            expected_version=None, now=NOW)
    assert work.events() == []
    assert outcome.version == 1


async def test_update_profile_of_an_unknown_customer_is_not_found(work: Work) -> None:
    with pytest.raises(NotFound):
        await handlers.update_profile(work, customer_id=new_id(), changes={"name": "X"}, expected_version=None,
                                      now=NOW)


async def test_change_consents_records_each_changed_channel(work: Work) -> None:
    customer_id = await given_customer(work)
    outcome = await handlers.change_consents(work, customer_id=customer_id, consents={"email": False, "sms": True},
                                             source="self_service", now=NOW, expected_version=1)
    changed = {(e.channel, e.granted) for e in work.events() if isinstance(e, ContactPreferencesChanged)}
    assert changed == {("email", False), ("sms", True)}
    assert (outcome.version, outcome.resource["consents"]["sms"]) == (3, True)


async def test_assign_account_manager(work: Work) -> None:
    customer_id = await given_customer(work)
    outcome = await handlers.assign_account_manager(work, customer_id=customer_id, account_manager_id="am-7",
                                                    by="lead", now=NOW)
    [event] = work.events()
    assert isinstance(event, AccountManagerAssigned)
    assert (event.account_manager_id, event.assigned_by) == ("am-7", "lead")
    assert (outcome.version, outcome.resource["account_manager_id"]) == (2, "am-7")


async def test_verify_contact_once(work: Work) -> None:
    customer_id = await given_customer(work)
    first = await handlers.verify_contact(work, customer_id=customer_id, channel="email", method="link", by="ops",
                                          now=NOW)
    again = await handlers.verify_contact(work, customer_id=customer_id, channel="email", method="link", by="ops",
                                          now=NOW)
    [event] = work.events()
    assert isinstance(event, ContactVerified)
    assert (event.channel, event.method) == ("email", "link")
    assert (first.version, again.version, again.resource["verified"]) == (2, 2, ["email"])


async def test_verify_a_phone_the_customer_has_not_is_a_conflict(work: Work) -> None:
    customer_id = await given_customer(work)
    with pytest.raises(Conflict):
        await handlers.verify_contact(work, customer_id=customer_id, channel="phone", method=None, by=None, now=NOW)


async def test_replace_duplicate_rules_appends_to_the_rules_stream(work: Work) -> None:
    rules = DuplicateRuleSet(email=True, phone=False, name=False)
    with pytest.raises(PreconditionFailed):
        await handlers.replace_duplicate_rules(work, rules=rules, by="admin", now=NOW, expected_version=3)
    outcome = await handlers.replace_duplicate_rules(work, rules=rules, by="admin", now=NOW, expected_version=0)
    [event] = work.events(RULES_STREAM)
    assert isinstance(event, DuplicateRulesChanged)
    assert (event.rules, event.changed_by) == (rules, "admin")
    assert (outcome.version, outcome.resource["phone"], outcome.resource["version"]) == (1, False, 1)
    same = await handlers.replace_duplicate_rules(work, rules=rules, by="admin", now=NOW, expected_version=None)
    assert (len(work.events()), same.version) == (1, 1)


async def test_merge_absorbs_the_duplicate_and_links_it(work: Work) -> None:
    survivor = await given_customer(work, email="ayse@example.com")
    duplicate = await given_customer(work, email="ayse.y@example.com")
    outcome = await handlers.merge_customers(work, survivor_id=survivor, duplicate_id=duplicate, reason="same person",
                                             by="ops", now=NOW)
    merged = work.events(str(survivor))[0]
    assert isinstance(merged, CustomersMerged)
    assert (merged.duplicate_id, merged.merged_by) == (duplicate, "ops")
    assert work.events(str(duplicate)) == []  # a merge is recorded once, on the survivor's stream
    assert isinstance(outcome, Updated)
    assert outcome.resource["id"] == str(survivor)
    assert work.rows.merged_into == {duplicate: survivor}
    assert (await work.rows.customer(duplicate) or {})["status"] == "merged"


async def test_merge_of_a_missing_duplicate_is_invalid_of_a_missing_survivor_not_found(work: Work) -> None:
    customer_id = await given_customer(work)
    with pytest.raises(InvalidInput) as invalid:
        await handlers.merge_customers(work, survivor_id=customer_id, duplicate_id=new_id(), reason="r", by=None,
                                       now=NOW)
    assert invalid.value.extra["field"] == "duplicate_id"
    with pytest.raises(NotFound):
        await handlers.merge_customers(work, survivor_id=new_id(), duplicate_id=customer_id, reason="r", by=None,
                                       now=NOW)
    assert work.events() == []


async def test_unmerge_gives_the_duplicate_back(work: Work) -> None:
    survivor = await given_customer(work, email="ayse@example.com")
    duplicate = await given_customer(work, email="ayse.y@example.com")
    await handlers.merge_customers(work, survivor_id=survivor, duplicate_id=duplicate, reason="same", by=None,
                                   now=NOW)
    work.appended.clear()
    outcome = await handlers.unmerge_customers(work, survivor_id=survivor, duplicate_id=duplicate, reason="no",
                                               by="ops", now=NOW)
    assert [type(e) for e in work.events(str(survivor))][:1] == [CustomersUnmerged]
    assert work.rows.merged_into == {}
    assert outcome.version == (await work.rows.customer(survivor) or {})["version"]


async def test_erase_forgets_the_customer_and_its_duplicates_and_opens_the_ledger(work: Work) -> None:
    survivor = await given_customer(work, email="ayse@example.com")
    duplicate = await given_customer(work, email="ayse.y@example.com")
    await handlers.merge_customers(work, survivor_id=survivor, duplicate_id=duplicate, reason="same", by=None,
                                   now=NOW)
    work.rows.stored_answers[survivor] = 2
    work.rows.export_documents[duplicate] = 1
    work.appended.clear()
    outcome = await handlers.erase_customer(work, customer_id=survivor, by="dpo", now=NOW,
                                            acknowledgers=("ticketing", "campaigns"))
    assert isinstance(outcome, Deleted)
    [erased] = work.events(str(survivor))
    assert isinstance(erased, CustomerErased)
    [acknowledged] = work.events(erasure_stream(survivor))
    assert isinstance(acknowledged, CustomerDataErased)
    assert acknowledged.erasure_event_id == work.appended[0].event_id
    assert acknowledged.details == {"profiles_erased": 2, "notes_deleted": 0, "stored_answers_redacted": 2,
                                    "export_documents_deleted": 1, "keys_destroyed": 2}
    assert work.rows.destroyed_keys == [str(survivor), str(duplicate)]
    assert work.rows.customers[duplicate]["name"] is None
    assert work.rows.erasures[survivor] == {"customer": "done", "ticketing": "pending", "campaigns": "pending"}
    with pytest.raises(Gone):
        await handlers.erase_customer(work, customer_id=survivor, by="dpo", now=NOW)


# --- orders ---------------------------------------------------------------------------------------

LINES = [LineRequest(sku="SKU-1", name="Kettle", category="kitchen", quantity=2, unit_price=Decimal("19.95"),
                     unit_cost=Decimal("10"))]


async def given_order(work: Work, customer_id: UUID) -> UUID:
    placed = await handlers.place_order(work, customer_id=customer_id, lines=LINES, currency="EUR", channel="web",
                                        now=NOW)
    work.appended.clear()
    return UUID(placed.resource_id)


async def test_place_order_computes_totals_and_answers_created(work: Work) -> None:
    customer_id = await given_customer(work)
    outcome = await handlers.place_order(work, customer_id=customer_id, lines=LINES, currency="EUR", channel="web",
                                         now=NOW)
    [placed] = work.events()
    assert isinstance(placed, OrderPlaced)
    assert (placed.total, placed.cost, placed.margin) == (Decimal("39.90"), Decimal("20.00"), Decimal("19.90"))
    assert isinstance(outcome, Created)
    assert (outcome.resource_id, outcome.version, outcome.resource["status"]) == (str(placed.order_id), 1, "placed")
    assert work.appended[0].subject == str(customer_id)


async def test_an_order_for_a_merged_away_customer_is_a_conflict(work: Work) -> None:
    survivor = await given_customer(work, email="ayse@example.com")
    duplicate = await given_customer(work, email="ayse.y@example.com")
    await handlers.merge_customers(work, survivor_id=survivor, duplicate_id=duplicate, reason="same", by=None,
                                   now=NOW)
    work.appended.clear()
    with pytest.raises(Conflict):
        await handlers.place_order(work, customer_id=duplicate, lines=LINES, currency="EUR", channel="web", now=NOW)
    with pytest.raises(NotFound):
        await handlers.place_order(work, customer_id=new_id(), lines=LINES, currency="EUR", channel="web", now=NOW)
    assert work.events() == []


async def test_an_order_moves_through_ship_deliver_and_return(work: Work) -> None:
    order_id = await given_order(work, await given_customer(work))
    shipped = await handlers.ship_order(work, order_id=order_id, now=NOW, carrier="UPS", tracking_number="1Z")
    delivered = await handlers.deliver_order(work, order_id=order_id, now=NOW + timedelta(days=1))
    returned = await handlers.return_order(work, order_id=order_id, now=NOW + timedelta(days=3),
                                           window=timedelta(days=14), reason="broken")
    assert [type(e) for e in work.events(str(order_id))] == [OrderShipped, OrderDelivered, OrderReturned]
    assert [(o.version, o.resource["status"]) for o in (shipped, delivered, returned)] == [
        (2, "shipped"), (3, "delivered"), (4, "returned")]


async def test_a_return_after_the_window_and_a_cancel_after_delivery_are_conflicts(work: Work) -> None:
    order_id = await given_order(work, await given_customer(work))
    await handlers.ship_order(work, order_id=order_id, now=NOW)
    await handlers.deliver_order(work, order_id=order_id, now=NOW)
    with pytest.raises(Conflict):
        await handlers.return_order(work, order_id=order_id, now=NOW + timedelta(days=15), window=timedelta(days=14))
    with pytest.raises(Conflict):
        await handlers.cancel_order(work, order_id=order_id, now=NOW)
    assert len(work.events()) == 2


async def test_cancel_a_placed_order(work: Work) -> None:
    order_id = await given_order(work, await given_customer(work))
    outcome = await handlers.cancel_order(work, order_id=order_id, now=NOW, reason="changed my mind")
    [cancelled] = work.events()
    assert isinstance(cancelled, OrderCancelled)
    assert (cancelled.reason, cancelled.total) == ("changed my mind", Decimal("39.90"))
    assert (outcome.version, outcome.resource["status"]) == (2, "cancelled")


async def test_an_unknown_order_or_another_stream_is_not_found(work: Work) -> None:
    customer_id = await given_customer(work)
    with pytest.raises(NotFound):
        await handlers.ship_order(work, order_id=new_id(), now=NOW)
    with pytest.raises(NotFound):  # a customer's stream is not an order
        await handlers.deliver_order(work, order_id=customer_id, now=NOW)


# --- invoices and payments ------------------------------------------------------------------------


async def test_issue_invoice_once_per_order(work: Work) -> None:
    order_id = await given_order(work, await given_customer(work))
    outcome = await handlers.issue_invoice(work, order_id=order_id, due_date=date(2026, 12, 31), now=NOW)
    [issued] = work.events()
    assert isinstance(issued, InvoiceIssued)
    assert (issued.order_id, issued.amount) == (order_id, Decimal("39.90"))
    assert isinstance(outcome, Created)
    assert (outcome.resource_id, outcome.version) == (str(issued.invoice_id), 1)
    with pytest.raises(Conflict) as again:
        await handlers.issue_invoice(work, order_id=order_id, due_date=date(2026, 12, 31), now=NOW)
    assert again.value.extra["existing_invoice_id"] == outcome.resource_id


async def test_a_cancelled_order_is_not_invoiced(work: Work) -> None:
    order_id = await given_order(work, await given_customer(work))
    await handlers.cancel_order(work, order_id=order_id, now=NOW)
    with pytest.raises(Conflict):
        await handlers.issue_invoice(work, order_id=order_id, due_date=date(2026, 12, 31), now=NOW)


async def test_payments_add_up_and_overpaying_is_refused(work: Work) -> None:
    order_id = await given_order(work, await given_customer(work))
    invoice = await handlers.issue_invoice(work, order_id=order_id, due_date=date(2026, 12, 31), now=NOW)
    invoice_id = UUID(invoice.resource_id)
    work.appended.clear()
    outcome = await handlers.receive_payment(work, invoice_id=invoice_id, amount=Decimal("30"), method="card",
                                             now=NOW)
    [paid] = work.events()
    assert isinstance(paid, PaymentReceived)
    assert (paid.amount, paid.amount_paid) == (Decimal("30"), Decimal("30"))
    assert isinstance(outcome, Created)
    assert (outcome.resource_id, outcome.version) == (str(paid.payment_id), None)
    assert outcome.resource["outstanding"] == Decimal("9.90")
    assert work.rows.invoices[invoice_id]["version"] == 2
    with pytest.raises(InvalidInput):
        await handlers.receive_payment(work, invoice_id=invoice_id, amount=Decimal("10"), method="card", now=NOW)
    with pytest.raises(NotFound):
        await handlers.receive_payment(work, invoice_id=new_id(), amount=Decimal("1"), method="card", now=NOW)
    assert len(work.events()) == 1
