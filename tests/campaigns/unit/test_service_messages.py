"""Service follow-ups, the pure rules: which events cause one, the wording, and which marketing rules apply."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.campaigns.domain.decision import CustomerSnapshot, MarketingPolicy
from services.campaigns.domain.service_messages import (
    DEFAULT_TEMPLATES,
    TemplateError,
    check_templates,
    decide_service_message,
    facts_of,
    render,
    with_defaults,
)
from shared.contracts.campaigns import Channel, ServiceMessageTemplate, SuppressionReason

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NIGHT = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
TICKET = uuid.UUID("abcdef12-0000-4000-8000-000000000001")
ORDER = uuid.UUID("0a1b2c3d-0000-4000-8000-000000000002")
RESOLVED = with_defaults(())["complaint_resolved"]


def a_customer(**overrides: object) -> CustomerSnapshot:
    values: dict[str, object] = {"customer_id": "c1", "consents": frozenset({Channel.SMS}), "timezone": "UTC"}
    values.update(overrides)
    return CustomerSnapshot(**values)  # type: ignore[arg-type]


def test_a_resolved_complaint_says_so_in_plain_words_without_the_agents_free_text() -> None:
    facts = facts_of("TicketResolved", {"kind": "complaint", "ticket_id": TICKET, "category": "late_delivery",
                                        "resolution": "agent notes: refunded shipping, customer was rude"})
    assert facts == ("complaint_resolved", {"ticket_ref": "ABCDEF12", "category": "late delivery"})
    text = render(RESOLVED, facts[1])
    assert text == "Your complaint ABCDEF12 (late delivery) has been resolved. Thank you for your patience."
    assert "rude" not in text


def test_only_complaints_deliveries_and_paid_refunds_cause_a_follow_up() -> None:
    assert facts_of("TicketResolved", {"kind": "question", "ticket_id": TICKET}) is None
    assert facts_of("OrderPlaced", {"order_id": ORDER}) is None
    assert facts_of("OrderReturned", {"order_id": ORDER, "refund_amount": Decimal("0.00")}) is None
    assert facts_of("OrderReturned", {"order_id": ORDER, "refund_amount": "not money"}) is None
    assert facts_of("OrderReturned", {"order_id": ORDER, "refund_amount": Decimal("49.9"), "currency": "TRY"}) == (
        "refund_paid", {"order_ref": "0A1B2C3D", "amount": "49.90", "currency": "TRY"})
    assert facts_of("OrderDelivered", {"order_id": ORDER, "delivered_at": NOON}) == (
        "order_delivered", {"order_ref": "0A1B2C3D", "delivered_on": "2026-03-10"})


def test_a_service_message_ignores_caps_holds_and_control_groups_but_not_consent() -> None:
    # An open complaint and a recent detractor answer would hold a promotion; a service message goes.
    busy = a_customer(open_complaints=2, last_detractor_at=NOON, last_sla_breach_at=NOON)
    strict = MarketingPolicy(frequency_cap=0)
    decision = decide_service_message(template=RESOLVED, customer=busy, policy=strict, now=NOON)
    assert (decision.status, decision.channel) == ("sent", Channel.SMS)


def test_the_first_consented_channel_in_the_templates_order_is_used() -> None:
    customer = a_customer(consents=frozenset({Channel.SMS, Channel.EMAIL}))
    assert decide_service_message(template=RESOLVED, customer=customer, policy=MarketingPolicy(),
                                  now=NOON).channel == Channel.EMAIL


@pytest.mark.parametrize(("customer", "template", "detail"), [
    (a_customer(consents=frozenset()), RESOLVED, "no consent on email, sms, push"),
    (a_customer(service_followups=False), RESOLVED, "customer opted out of service follow-ups"),
    (a_customer(), RESOLVED.model_copy(update={"enabled": False}), "complaint_resolved messages are switched off"),
])
def test_without_consent_or_with_the_opt_out_nothing_is_sent(
    customer: CustomerSnapshot, template: ServiceMessageTemplate, detail: str
) -> None:
    decision = decide_service_message(template=template, customer=customer, policy=MarketingPolicy(), now=NOON)
    assert (decision.status, decision.reason, decision.detail) == ("withheld", SuppressionReason.NO_CONSENT, detail)


def test_an_erased_customer_gets_nothing() -> None:
    decision = decide_service_message(template=RESOLVED, customer=a_customer(erased=True), policy=MarketingPolicy(),
                                      now=NOON)
    assert decision.reason is SuppressionReason.CUSTOMER_INACTIVE


def test_quiet_hours_and_blackout_days_defer_it_to_the_next_send_window() -> None:
    night = decide_service_message(template=RESOLVED, customer=a_customer(), policy=MarketingPolicy(), now=NIGHT)
    assert (night.status, night.deferred_until) == ("deferred", datetime(2026, 3, 11, 8, 0, tzinfo=UTC))
    holiday = MarketingPolicy(blackouts=frozenset({date(2026, 3, 10)}))
    blackout = decide_service_message(template=RESOLVED, customer=a_customer(), policy=holiday, now=NOON)
    assert blackout.deferred_until == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    # In the customer's own time zone: 23:00 UTC is 02:00 in Istanbul, still quiet until 08:00 there.
    istanbul = decide_service_message(template=RESOLVED, customer=a_customer(timezone="Europe/Istanbul"),
                                      policy=MarketingPolicy(), now=NIGHT)
    assert istanbul.deferred_until == datetime(2026, 3, 11, 5, 0, tzinfo=UTC)


def test_the_default_templates_render_with_their_placeholders() -> None:
    check_templates(DEFAULT_TEMPLATES)
    assert [t.kind for t in DEFAULT_TEMPLATES] == ["complaint_resolved", "order_delivered", "refund_paid"]


@pytest.mark.parametrize(("text", "message"), [
    ("Refund {amount} for {ticket_ref}", "unknown placeholder 'ticket_ref'"),
    ("Refund {amount", "not a template"),
    ("Refund {amount:>99999}", "without a format"),
    ("Refund {amount!r}", "without a format"),
    ("Refund {}", "unknown placeholder ''"),
])
def test_a_template_that_cannot_render_is_refused(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message) as refused:
        check_templates([ServiceMessageTemplate(kind="refund_paid", text=text, channels=[Channel.EMAIL])])
    assert refused.value.field == "templates[0].text"


def test_a_kind_or_a_channel_listed_twice_is_refused() -> None:
    twice = ServiceMessageTemplate(kind="refund_paid", text="Paid.", channels=[Channel.EMAIL])
    with pytest.raises(TemplateError, match="listed twice") as refused:
        check_templates([twice, twice])
    assert refused.value.field == "templates[1].kind"
    with pytest.raises(TemplateError, match="a channel is listed twice"):
        check_templates([twice.model_copy(update={"channels": [Channel.SMS, Channel.SMS]})])
