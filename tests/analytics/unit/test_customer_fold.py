"""The customer fold and the 360 document: what an agent on the phone sees."""

from __future__ import annotations

import uuid
from decimal import Decimal

from services.analytics.application.views import render
from services.analytics.domain.model import fold, project
from services.analytics.domain.rules import AnalyticsRules
from services.analytics.domain.signals import changes
from tests.analytics.builders import (
    at,
    complaint_filed,
    erased,
    invalid_redemption,
    invoice_issued,
    new_customer_id,
    offer_sent,
    order_placed,
    order_status,
    payment_overdue,
    payment_received,
    registered,
    survey_answered,
    ticket_opened,
    ticket_resolved,
)

RULES = AnalyticsRules()


def view_of(cid: str, facts: list, *, now=None) -> dict:
    state = fold(cid, facts, RULES)
    return render(state, now=now or max(x.at for x in facts), rules=RULES)


def test_orders_payments_and_value_add_up() -> None:
    cid = new_customer_id()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    facts = [
        registered(cid, at(0)),
        order_placed(cid, at(1), order_id=first, total="1000.00", margin="300.00", category="books"),
        order_placed(cid, at(2), order_id=second, total="200.00", margin=None, category="tea"),
        order_status("OrderDelivered", cid, first, at(3)),
        invoice_issued(cid, "11111111-1111-1111-1111-111111111111", first, at(1)),
        payment_received(cid, "11111111-1111-1111-1111-111111111111", first, at(5), days_late=1),
    ]
    view = view_of(cid, facts)
    assert view["profile"]["customer_since"] == "2026-01-01T09:00:00.000000Z"
    assert view["orders"]["count"] == 2
    assert view["orders"]["total_spent"] == "1200.00"
    assert view["orders"]["total_margin"] == "300.00"
    assert view["orders"]["average_order_value"] == "600.00"
    assert view["orders"]["last_order"]["order_id"] == second
    assert [p["order_id"] for p in view["orders"]["pending"]] == [second]
    assert view["payments"]["paid"] == "1000.00"
    assert view["payments"]["invoiced"] == "1000.00"
    assert view["payments"]["outstanding"] == "0.00"
    assert view["payments"]["average_days_to_pay"] == "4.0"  # invoiced day 1, paid day 5
    assert view["payments"]["average_days_late"] == "1.0"  # what the payment said about its due date
    assert view["payments"]["preferred_method"] == "card"
    # margin 300 + costless revenue 200 - acquisition 100
    assert view["value"]["clv_historic"] == "400.00"
    assert Decimal(view["value"]["clv_predicted"]) > Decimal("400.00")
    assert view["lifecycle_stage"]["stage"] == "expansion"


def test_cancelled_and_returned_orders_leave_the_totals() -> None:
    cid = new_customer_id()
    kept, cancelled = str(uuid.uuid4()), str(uuid.uuid4())
    facts = [
        registered(cid, at(0), acquisition_cost=None),
        order_placed(cid, at(1), order_id=kept, total="100.00", margin="40.00"),
        order_placed(cid, at(1, 1), order_id=cancelled, total="500.00", margin="100.00"),
        order_status("OrderCancelled", cid, cancelled, at(1, 2), total=Decimal("500"), currency="EUR"),
        order_status("OrderReturned", cid, kept, at(9), refund_amount=Decimal("50"), currency="EUR"),
    ]
    view = view_of(cid, facts)
    assert view["orders"]["count"] == 1
    assert view["orders"]["total_spent"] == "50.00"
    assert view["orders"]["total_margin"] == "20.00"
    assert view["orders"]["returns"] == 1


def test_personal_fields_still_encrypted_read_as_none() -> None:
    cid = new_customer_id()
    view = view_of(cid, [registered(cid, at(0), name="enc:v1:AAAA", email=None)])
    assert view["profile"]["name"] is None
    assert view["profile"]["consents"]["email"] is True


def test_service_history_and_serial_complainer() -> None:
    cid = new_customer_id()
    tickets = [str(uuid.uuid4()) for _ in range(3)]
    facts = [registered(cid, at(0))]
    for day, ticket in enumerate(tickets, start=1):
        facts += [ticket_opened(cid, ticket, at(day)), complaint_filed(cid, ticket, at(day))]
    facts.append(ticket_resolved(cid, tickets[0], at(1, 2), seconds=7200))
    view = view_of(cid, facts)
    assert view["service"]["complaints_total"] == 3
    assert view["service"]["complaints_90d"] == 3
    assert view["service"]["open_tickets"] == 2
    assert view["service"]["average_resolution_hours"] == "2.0"
    assert view["service"]["open"][0]["subject"] == "Late delivery"
    segment = next(s for s in view["segments"] if s["segment"] == "serial_complainer")
    assert segment["since"] == "2026-01-04T09:00:00.000000Z"
    assert len(segment["provenance"]) == 3


def test_complaints_age_out_of_the_window() -> None:
    cid = new_customer_id()
    facts = [registered(cid, at(0))] + [complaint_filed(cid, str(uuid.uuid4()), at(d)) for d in (1, 2, 3)]
    view = view_of(cid, facts, now=at(200))
    assert view["service"]["complaints_90d"] == 0
    assert "serial_complainer" not in {s["segment"] for s in view["segments"]}


def test_detractor_and_inactivity_drive_churn_with_factors() -> None:
    cid = new_customer_id()
    facts = [registered(cid, at(0)), order_placed(cid, at(1)), survey_answered(cid, 2, at(2))]
    live = view_of(cid, facts)
    later = view_of(cid, facts, now=at(182))
    assert live["feedback"] == {
        "last_nps": 2,
        "last_nps_at": "2026-01-03T09:00:00.000000Z",
        "nps_category": "detractor",
        "csat_average": None,
        "survey_count": 1,
    }
    assert live["risk"]["churn_band"] == "low"
    assert later["risk"]["churn_band"] == "medium"
    assert set(later["risk"]["factors"]) == {"inactivity", "detractor"}


def test_inactivity_leads_to_dissolution_at_the_sweep() -> None:
    cid = new_customer_id()
    facts = [registered(cid, at(0)), order_placed(cid, at(1))]
    assert view_of(cid, facts)["lifecycle_stage"]["stage"] == "awareness"
    late = view_of(cid, facts, now=at(400))
    assert late["lifecycle_stage"]["stage"] == "dissolution"
    assert late["lifecycle_stage"]["rule"] == "dissolution.inactive"


def test_late_payer_from_overdue_invoices() -> None:
    cid = new_customer_id()
    order = str(uuid.uuid4())
    facts = [registered(cid, at(0)), order_placed(cid, at(1), order_id=order)]
    facts += [payment_overdue(cid, str(uuid.uuid4()), order, at(d)) for d in (20, 40)]
    view = view_of(cid, facts)
    assert view["payments"]["overdue_count"] == 2
    assert "late_payer" in {s["segment"] for s in view["segments"]}


def test_deal_seeker_and_marketing() -> None:
    cid = new_customer_id()
    facts = [registered(cid, at(0)), offer_sent(cid, at(0, 1))]
    facts += [order_placed(cid, at(d), offer_code=f"C{d}") for d in (1, 2, 3)]
    view = view_of(cid, facts)
    assert view["marketing"]["offers_received"] == 1
    assert view["marketing"]["last_offer"]["sku"] == "SKU-9"
    assert "deal_seeker" in {s["segment"] for s in view["segments"]}


def test_fraud_flag_from_suspicious_redemptions() -> None:
    cid = new_customer_id()
    facts = [registered(cid, at(0)), invalid_redemption(cid, at(1)), invalid_redemption(cid, at(2))]
    view = view_of(cid, facts)
    assert "fraud_flagged" in {s["segment"] for s in view["segments"]}
    assert view["lifecycle_stage"]["rule"] == "dissolution.fraud"


def test_erasure_removes_personal_data_but_keeps_the_facts() -> None:
    cid = new_customer_id()
    ticket = str(uuid.uuid4())
    facts = [registered(cid, at(0)), order_placed(cid, at(1)), ticket_opened(cid, ticket, at(2)), erased(cid, at(3))]
    view = view_of(cid, facts)
    assert view["status"] == "erased"
    assert view["profile"]["name"] is None and view["profile"]["email"] is None
    assert view["service"]["open"][0]["subject"] is None
    assert view["orders"]["total_spent"] == "1000.00"
    assert view["segments"] == []


def test_merged_duplicate_history_counts_but_its_profile_does_not() -> None:
    survivor, duplicate = new_customer_id(), new_customer_id()
    from shared.contracts.customer import CustomersMerged
    from tests.analytics.builders import fact

    facts = [
        registered(survivor, at(5), name="Survivor"),
        registered(duplicate, at(0), name="Duplicate"),
        order_placed(duplicate, at(1)),
        fact(CustomersMerged(customer_id=survivor, duplicate_id=duplicate, merged_at=at(6)), at(6)),
    ]
    view = view_of(survivor, facts)
    assert view["profile"]["name"] == "Survivor"
    assert view["profile"]["merged_ids"] == [duplicate]
    assert view["profile"]["customer_since"] == "2026-01-01T09:00:00.000000Z"
    assert view["orders"]["count"] == 1


def test_late_fact_refolds_from_history() -> None:
    cid = new_customer_id()
    early = registered(cid, at(0))
    later = [order_placed(cid, at(1)), order_placed(cid, at(2))]
    state = project(None, cid, later, list, RULES)
    refolded = project(state, cid, [early], lambda: later, RULES)
    assert refolded == fold(cid, [early, *later], RULES)


def test_signals_name_each_change_once() -> None:
    cid = new_customer_id()
    before = fold(cid, [registered(cid, at(0))], RULES)
    after = project(before, cid, [order_placed(cid, at(1), total="20000.00", margin="9000.00")], list, RULES)
    emitted = changes(before, after, now=at(1))
    kinds = sorted(
        (e.event_type, getattr(e, "segment", None) or getattr(e, "to_stage", None) or getattr(e, "to_tier", None))
        for e in emitted
    )
    assert kinds == [
        ("LifecycleStageChanged", "awareness"),
        ("SegmentEntered", "high_value"),
        ("ValueTierChanged", "gold"),
    ]
    assert changes(after, after, now=at(1)) == []
