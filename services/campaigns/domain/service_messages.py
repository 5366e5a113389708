"""Service follow-ups: telling a customer what was done for them (issue 21.3, docs/service-messages.md).

A resolved complaint, a delivered order, a paid refund each give the customer one short message in
plain words, on a channel they consented to. It is not a promotion, so of the marketing rules it
keeps only the ones that protect the person — consent (per channel, and the separate opt-out of
service follow-ups) and the send window (quiet hours, blackout days: deferred, never dropped) —
and none of the ones that ration marketing: no frequency caps, no service-recovery hold (a resolved
complaint is exactly the news the hold waits for), no control group, no budget.

Pure: the engine reads the customer's replica, the templates and the policy, and records what this
decides.

The resolution's free text (``TicketResolved.resolution``) is sealed personal data under ticketing's
key and is written by an agent for colleagues; it is never copied into the message. The message says
the status in plain words from the template (which the operator words), with non-personal facts of
the event (ticket category, order reference, refund amount).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from services.campaigns.domain.decision import CustomerSnapshot, MarketingPolicy, next_send_window
from shared.contracts.campaigns import Channel, ServiceMessageKind, ServiceMessageTemplate, SuppressionReason

TRIGGERS: Mapping[str, ServiceMessageKind] = {
    "TicketResolved": "complaint_resolved",
    "OrderDelivered": "order_delivered",
    "OrderReturned": "refund_paid",
}
"""Event type → the follow-up it causes. ``TicketResolved`` only for complaints (``kind == "complaint"``);
``OrderReturned`` only with a refund above zero. A cancelled order is not charged in this platform's
flow (it is cancelled before delivery), so ``OrderCancelled`` pays no refund and sends nothing."""

PLACEHOLDERS: Mapping[ServiceMessageKind, frozenset[str]] = {
    "complaint_resolved": frozenset({"ticket_ref", "category"}),
    "order_delivered": frozenset({"order_ref", "delivered_on"}),
    "refund_paid": frozenset({"order_ref", "amount", "currency"}),
}
"""The ``{placeholders}`` each template may use: non-personal facts of the triggering event."""

DEFAULT_TEMPLATES: tuple[ServiceMessageTemplate, ...] = (
    ServiceMessageTemplate(
        kind="complaint_resolved",
        text="Your complaint {ticket_ref} ({category}) has been resolved. Thank you for your patience.",
        channels=[Channel.EMAIL, Channel.SMS, Channel.PUSH]),
    ServiceMessageTemplate(
        kind="order_delivered",
        text="Your order {order_ref} was delivered on {delivered_on}. We hope you enjoy it.",
        channels=[Channel.PUSH, Channel.SMS, Channel.EMAIL]),
    ServiceMessageTemplate(
        kind="refund_paid",
        text="Your refund of {amount} {currency} for order {order_ref} has been paid.",
        channels=[Channel.EMAIL, Channel.SMS, Channel.PUSH]),
)
"""Version 0 of the templates: in force until an operator replaces them (``PUT /v1/service-messages``)."""

MAX_TEXT = 480
"""A short message: about three SMS segments."""


class TemplateError(ValueError):
    """A template that cannot be rendered (unknown placeholder, bad syntax); ``field`` names where."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def check_templates(templates: Sequence[ServiceMessageTemplate]) -> None:
    """Each kind at most once, each text renders with its kind's placeholders only, channels distinct."""
    seen: set[str] = set()
    for i, template in enumerate(templates):
        if template.kind in seen:
            raise TemplateError(f"{template.kind} is listed twice", f"templates[{i}].kind")
        seen.add(template.kind)
        if len(set(template.channels)) != len(template.channels):
            raise TemplateError("a channel is listed twice", f"templates[{i}].channels")
        try:
            parts = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template.text)
                     if name is not None]
        except ValueError as exc:
            raise TemplateError(f"not a template: {exc}", f"templates[{i}].text") from None
        if any(spec or conversion for _, spec, conversion in parts):
            raise TemplateError("placeholders are plain {name}, without a format or conversion",
                                f"templates[{i}].text")
        names = {name for name, _, _ in parts}
        unknown = names - PLACEHOLDERS[template.kind]
        if unknown:
            allowed = ", ".join(sorted(PLACEHOLDERS[template.kind]))
            raise TemplateError(f"unknown placeholder {sorted(unknown)[0]!r}; {template.kind} knows {allowed}",
                                f"templates[{i}].text")


def with_defaults(templates: Sequence[ServiceMessageTemplate]) -> dict[ServiceMessageKind, ServiceMessageTemplate]:
    """The templates in force: the given ones, and the default for any kind they do not list."""
    chosen: dict[ServiceMessageKind, ServiceMessageTemplate] = {t.kind: t for t in DEFAULT_TEMPLATES}
    chosen.update({t.kind: t for t in templates})
    return chosen


def short_ref(value: Any) -> str:
    """The first eight characters of an id, upper-cased: how a customer quotes an order or a ticket."""
    return str(value).split("-", 1)[0].upper()[:8]


def facts_of(event_type: str, data: Mapping[str, Any]) -> tuple[ServiceMessageKind, dict[str, str]] | None:
    """Which follow-up this event causes and the placeholders' values; None when it causes none."""
    kind = TRIGGERS.get(event_type)
    if kind == "complaint_resolved":
        if str(data.get("kind")) != "complaint":
            return None
        category = data.get("category")
        return kind, {"ticket_ref": short_ref(data.get("ticket_id")),
                      "category": str(category).replace("_", " ") if category else "your request"}
    if kind == "order_delivered":
        delivered = data.get("delivered_at")
        day = delivered.date().isoformat() if isinstance(delivered, datetime) else str(delivered or "")[:10]
        return kind, {"order_ref": short_ref(data.get("order_id")), "delivered_on": day}
    if kind == "refund_paid":
        try:
            amount = Decimal(str(data.get("refund_amount")))
        except InvalidOperation:
            return None
        if not amount > 0:
            return None
        return kind, {"order_ref": short_ref(data.get("order_id")), "amount": f"{amount:.2f}",
                      "currency": str(data.get("currency") or "")}
    return None


def render(template: ServiceMessageTemplate, values: Mapping[str, str]) -> str:
    """The plain-words message, at most ``MAX_TEXT`` characters."""
    return template.text.format_map(dict(values))[:MAX_TEXT]


ServiceStatus = Literal["sent", "deferred", "withheld"]


@dataclass(frozen=True, slots=True)
class ServiceDecision:
    """Send on ``channel``, defer until ``deferred_until``, or withhold for ``reason``.

    Made by ``sent``, ``deferred`` or ``withheld``: each fills in the fields its outcome has (a deferral's
    reason is always the send window), so ``status`` and the fields never disagree.
    """

    status: ServiceStatus
    channel: Channel | None = None
    deferred_until: datetime | None = None
    reason: SuppressionReason | None = None
    detail: str | None = None

    @classmethod
    def sent(cls, channel: Channel) -> ServiceDecision:
        return cls("sent", channel=channel)

    @classmethod
    def deferred(cls, until: datetime, why: str) -> ServiceDecision:
        """Held until the next send window opens (quiet hours, a blackout day): deferred, never dropped."""
        return cls("deferred", deferred_until=until, reason=SuppressionReason.QUIET_HOURS_DEFERRED, detail=why)

    @classmethod
    def withheld(cls, reason: SuppressionReason, detail: str) -> ServiceDecision:
        return cls("withheld", reason=reason, detail=detail)


def decide_service_message(
    *, template: ServiceMessageTemplate, customer: CustomerSnapshot, policy: MarketingPolicy, now: datetime
) -> ServiceDecision:
    """Whether and where to send one follow-up now (see the module docstring for which rules apply)."""
    if not customer.known or customer.erased or customer.merged_into:
        return ServiceDecision.withheld(SuppressionReason.CUSTOMER_INACTIVE, "customer is not active")
    if not template.enabled:
        return ServiceDecision.withheld(SuppressionReason.NO_CONSENT, f"{template.kind} messages are switched off")
    if not customer.service_followups:
        return ServiceDecision.withheld(SuppressionReason.NO_CONSENT, "customer opted out of service follow-ups")
    channels = [c for c in template.channels if c in customer.consents]
    if not channels:
        return ServiceDecision.withheld(SuppressionReason.NO_CONSENT, "no consent on " + ", ".join(template.channels))
    window = next_send_window(now, customer.timezone, policy)
    if window is not None:
        until, why = window
        return ServiceDecision.deferred(until, why)
    return ServiceDecision.sent(channels[0])


@dataclass(frozen=True, slots=True)
class Templates:
    """The templates in force and their version (0: the defaults in code)."""

    version: int
    templates: tuple[ServiceMessageTemplate, ...]
    changed_by: str | None = None
    changed_at: datetime | None = None

    def of(self, kind: ServiceMessageKind) -> ServiceMessageTemplate:
        return with_defaults(self.templates)[kind]
