"""Builders for analytics tests: real contract events, as the facts the projection folds.

Every builder validates through the published contract model, so a renamed field in a contract
breaks these tests instead of silently reading ``None``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.analytics.domain.model import Fact
from shared.contracts import campaigns, customer, ticketing
from shared.events.catalog import DomainEvent

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def at(days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def fact(event: DomainEvent, when: datetime, *, origin: str | None = None, event_id: str | None = None) -> Fact:
    data = event.model_dump(mode="json")
    return Fact(
        event_id=event_id or str(uuid.uuid4()),
        event_type=event.event_type,
        at=when,
        data=data,
        origin=origin or str(data["customer_id"]),
    )


def registered(cid: str, when: datetime, **overrides: Any) -> Fact:
    fields: dict[str, Any] = {
        "customer_id": cid,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "acquisition_channel": "web",
        "acquisition_cost": Decimal("100.00"),
        "relationship_type": "long_term",
        "consents": {"email": True},
        "interests": ["tea"],
        "registered_at": when,
    }
    fields.update(overrides)
    return fact(customer.CustomerRegistered(**fields), when)


def order_placed(
    cid: str,
    when: datetime,
    *,
    order_id: str | None = None,
    total: str = "1000.00",
    margin: str | None = "300.00",
    sku: str = "SKU-1",
    category: str = "books",
    offer_code: str | None = None,
    also: tuple[str, ...] = (),
    promised: date | None = None,
) -> Fact:
    """An order of ``sku`` (the whole total), plus a free line for each sku in ``also``."""
    cost = None if margin is None else str(Decimal(total) - Decimal(margin))
    line = {
        "sku": sku,
        "name": f"product {sku}",
        "category": category,
        "quantity": 1,
        "unit_price": total,
        "unit_cost": cost,
        "line_total": total,
        "line_cost": cost,
    }
    extra = [
        {"sku": other, "name": f"product {other}", "category": category, "quantity": 1, "unit_price": "0.00",
         "unit_cost": None if cost is None else "0.00", "line_total": "0.00",
         "line_cost": None if cost is None else "0.00"}
        for other in also
    ]
    event = customer.OrderPlaced(
        customer_id=cid,
        order_id=order_id or str(uuid.uuid4()),
        lines=[line, *extra],
        total=Decimal(total),
        cost=None if cost is None else Decimal(cost),
        margin=None if margin is None else Decimal(margin),
        currency="EUR",
        channel="web",
        offer_code=offer_code,
        placed_at=when,
        promised_delivery_date=promised,
    )
    return fact(event, when)


def order_status(kind: str, cid: str, order_id: str, when: datetime, **extra: Any) -> Fact:
    model = getattr(customer, kind)
    time_field = {
        "OrderShipped": "shipped_at",
        "OrderDelivered": "delivered_at",
        "OrderCancelled": "cancelled_at",
        "OrderReturned": "returned_at",
    }[kind]
    return fact(model(customer_id=cid, order_id=order_id, **{time_field: when}, **extra), when)


def invoice_issued(cid: str, invoice_id: str, order_id: str, when: datetime, amount: str = "1000.00") -> Fact:
    return fact(
        customer.InvoiceIssued(
            customer_id=cid,
            invoice_id=invoice_id,
            order_id=order_id,
            amount=Decimal(amount),
            currency="EUR",
            due_date=(when + timedelta(days=14)).date(),
            issued_at=when,
        ),
        when,
    )


def payment_received(
    cid: str,
    invoice_id: str,
    order_id: str,
    when: datetime,
    *,
    amount: str = "1000.00",
    days_late: int = 0,
    method: str = "card",
) -> Fact:
    return fact(
        customer.PaymentReceived(
            customer_id=cid,
            payment_id=str(uuid.uuid4()),
            invoice_id=invoice_id,
            order_id=order_id,
            amount=Decimal(amount),
            currency="EUR",
            method=method,
            paid_at=when,
            invoice_amount=Decimal(amount),
            amount_paid=Decimal(amount),
            outstanding=Decimal("0.00"),
            fully_paid=True,
            due_date=when.date(),
            days_late=days_late,
        ),
        when,
    )


def payment_overdue(cid: str, invoice_id: str, order_id: str, when: datetime, amount: str = "1000.00") -> Fact:
    return fact(
        customer.PaymentOverdue(
            customer_id=cid,
            invoice_id=invoice_id,
            order_id=order_id,
            due_date=(when - timedelta(days=3)).date(),
            days_overdue=3,
            invoice_amount=Decimal(amount),
            outstanding=Decimal(amount),
            currency="EUR",
            detected_at=when,
        ),
        when,
    )


def ticket_opened(cid: str, ticket_id: str, when: datetime, kind: str = "complaint") -> Fact:
    return fact(
        ticketing.TicketOpened(
            ticket_id=ticket_id,
            customer_id=cid,
            kind=kind,
            channel="phone",
            subject="Late delivery",
            opened_at=when,
            first_response_due=when + timedelta(hours=4),
            resolution_due=when + timedelta(days=2),
        ),
        when,
    )


def complaint_filed(cid: str, ticket_id: str, when: datetime) -> Fact:
    return fact(ticketing.ComplaintFiled(ticket_id=ticket_id, customer_id=cid, channel="phone", filed_at=when), when)


def ticket_resolved(
    cid: str,
    ticket_id: str,
    when: datetime,
    seconds: int = 7200,
    *,
    root_cause: str = "carrier",
    first_response_seconds: int | None = None,
    transfers: int = 0,
    first_contact: bool = True,
    sla_breached: bool = False,
) -> Fact:
    return fact(
        ticketing.TicketResolved(
            ticket_id=ticket_id,
            customer_id=cid,
            kind="complaint",
            priority="normal",
            root_cause=root_cause,
            time_to_first_response_seconds=first_response_seconds,
            time_to_resolve_seconds=seconds,
            transfer_count=transfers,
            first_contact_resolution=first_contact,
            sla_breached=sla_breached,
            resolved_at=when,
        ),
        when,
    )


def ticket_assigned(cid: str, ticket_id: str, agent: str, when: datetime) -> Fact:
    return fact(ticketing.TicketAssigned(ticket_id=ticket_id, customer_id=cid, agent_id=agent, assigned_at=when), when)


def ticket_transferred(cid: str, ticket_id: str, to_agent: str, when: datetime, count: int = 1) -> Fact:
    return fact(
        ticketing.TicketTransferred(
            ticket_id=ticket_id,
            customer_id=cid,
            from_agent_id="agent-0",
            to_agent_id=to_agent,
            reason="expertise",
            transfer_count=count,
            transferred_at=when,
        ),
        when,
    )


def sla_breached(cid: str, ticket_id: str, when: datetime) -> Fact:
    return fact(
        ticketing.SlaBreached(
            ticket_id=ticket_id,
            customer_id=cid,
            target="resolution",
            priority="normal",
            due_at=when,
            breached_at=when,
            breached_by_seconds=0,
        ),
        when,
    )


def campaign_created(campaign_id: str, when: datetime, name: str = "Winter tea") -> Fact:
    event = campaigns.CampaignCreated(
        campaign_id=campaign_id, name=name, objective="cross_sell", action_kind="offer", control_group_pct=10
    )
    return fact(event, when, origin=str(uuid.UUID(int=0)))


def offer_redeemed(cid: str, when: datetime, campaign_id: str = "cmp-1", total: str = "100.00",
                   margin: str | None = "40.00") -> Fact:
    return fact(
        campaigns.OfferRedeemed(
            campaign_id=campaign_id,
            customer_id=cid,
            offer_code="CODE",
            order_id=str(uuid.uuid4()),
            total=Decimal(total),
            margin=None if margin is None else Decimal(margin),
        ),
        when,
    )


def held_out(cid: str, when: datetime, campaign_id: str = "cmp-1") -> Fact:
    return fact(
        campaigns.HeldOut(campaign_id=campaign_id, customer_id=cid, triggering_event_id=str(uuid.uuid4())), when
    )


def message_suppressed(cid: str, when: datetime, campaign_id: str = "cmp-1") -> Fact:
    return fact(
        campaigns.MessageSuppressed(
            campaign_id=campaign_id, customer_id=cid, reason="frequency_cap", triggering_event_id=str(uuid.uuid4())
        ),
        when,
    )


def survey_answered(cid: str, score: int, when: datetime, kind: str = "nps") -> Fact:
    return fact(
        campaigns.SurveyAnswered(survey_id=str(uuid.uuid4()), customer_id=cid, kind=kind, score=score, comment=None),
        when,
    )


def offer_sent(cid: str, when: datetime, campaign_id: str = "cmp-1") -> Fact:
    return fact(
        campaigns.OfferSent(
            campaign_id=campaign_id,
            customer_id=cid,
            message_id=str(uuid.uuid4()),
            offer_code=f"CODE-{uuid.uuid4().hex[:6]}",
            sku="SKU-9",
            channel="email",
            template="offer",
            cost=Decimal("0.10"),
            valid_until=when + timedelta(days=7),
            triggering_event_id=str(uuid.uuid4()),
        ),
        when,
    )


def invalid_redemption(cid: str, when: datetime, reason: str = "wrong_customer") -> Fact:
    return fact(
        campaigns.InvalidRedemption(customer_id=cid, offer_code="STOLEN", order_id=str(uuid.uuid4()), reason=reason),
        when,
    )


def erased(cid: str, when: datetime) -> Fact:
    return fact(customer.CustomerErased(customer_id=cid, erased_at=when), when)


def new_customer_id() -> str:
    return str(uuid.uuid4())


def per_topic_history(cid: str) -> dict[str, list[Fact]]:
    """One customer's realistic history as each topic delivers it (in topic order), months long.

    Fresh event, order, invoice and ticket ids on every call, so each call is a new customer's.
    A survey answered at the registration's instant on another topic exercises the id tie-break.
    """
    o1, o2, o3, inv, t1, t2 = (str(uuid.uuid4()) for _ in range(6))
    customer_topic = [
        registered(cid, at(0)),
        order_placed(cid, at(1), order_id=o1, total="120.00", margin="30.00", offer_code="X"),
        invoice_issued(cid, inv, o1, at(1, 1), amount="120.00"),
        order_status("OrderDelivered", cid, o1, at(4)),
        order_placed(cid, at(30), order_id=o2, total="80.00", margin=None, category="tea"),
        payment_overdue(cid, inv, o1, at(31), amount="120.00"),
        payment_received(cid, inv, o1, at(35), amount="120.00", days_late=6, method="transfer"),
        order_placed(cid, at(60), order_id=o3, total="999.00", margin="400.00", sku="SKU-2"),
        order_status("OrderCancelled", cid, o3, at(61), total=Decimal("999.00"), currency="EUR"),
    ]
    ticketing_topic = [
        ticket_opened(cid, t1, at(5)),
        complaint_filed(cid, t1, at(5)),
        ticket_resolved(cid, t1, at(6)),
        ticket_opened(cid, t2, at(32)),
        complaint_filed(cid, t2, at(32)),
        sla_breached(cid, t2, at(34)),
    ]
    campaigns_topic = [
        survey_answered(cid, 10, at(0)),
        survey_answered(cid, 3, at(7)),
        offer_sent(cid, at(20)),
        survey_answered(cid, 9, at(40)),
        survey_answered(cid, 4, at(41), kind="csat"),
    ]
    return {"customer": customer_topic, "ticketing": ticketing_topic, "campaigns": campaigns_topic}


def generated_history(customers: int, seed: int = 7) -> list[Fact]:
    """A varied, deterministic history: ~12 events per customer across the three domains."""
    import random

    rng = random.Random(seed)
    facts: list[Fact] = []
    skus = [f"SKU-{n}" for n in range(20)]
    for index in range(customers):
        cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        start = rng.uniform(0, 200)
        facts.append(registered(cid, at(start), acquisition_channel=rng.choice(["web", "store", "partner"])))
        for n in range(rng.randint(0, 6)):
            order = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            when = at(start + 1 + n * rng.uniform(1, 40))
            margin = None if rng.random() < 0.2 else f"{rng.randint(-20, 400)}.00"
            facts.append(
                order_placed(
                    cid,
                    when,
                    order_id=order,
                    total=f"{rng.randint(50, 3000)}.00",
                    margin=margin,
                    sku=rng.choice(skus),
                    category=rng.choice(["a", "b", "c"]),
                    offer_code="DEAL" if rng.random() < 0.3 else None,
                )
            )
            roll = rng.random()
            if roll < 0.1:
                facts.append(
                    order_status(
                        "OrderCancelled", cid, order, when + timedelta(hours=2), total=Decimal("1"), currency="EUR"
                    )
                )
            elif roll < 0.8:
                facts.append(order_status("OrderDelivered", cid, order, when + timedelta(days=2)))
            if rng.random() < 0.15:
                invoice = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                facts.append(payment_overdue(cid, invoice, order, when + timedelta(days=20)))
        for _ in range(rng.randint(0, 3)):
            ticket = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            when = at(start + rng.uniform(0, 150))
            facts.append(ticket_opened(cid, ticket, when))
            facts.append(complaint_filed(cid, ticket, when))
            if rng.random() < 0.6:
                facts.append(ticket_resolved(cid, ticket, when + timedelta(hours=rng.randint(1, 72))))
        for _ in range(rng.randint(0, 2)):
            facts.append(survey_answered(cid, rng.randint(0, 10), at(start + rng.uniform(0, 200))))
        if rng.random() < 0.3:
            facts.append(offer_sent(cid, at(start + rng.uniform(0, 100)), campaign_id=f"cmp-{index % 3}"))
        if rng.random() < 0.03:
            facts.append(erased(cid, at(start + 250)))
    return facts
