"""Builders for campaigns' unit tests: sensible defaults, override what the test is about."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from services.campaigns.application.triggers import trigger_event_fields
from services.campaigns.domain.decision import Counters, CustomerSnapshot, MarketingPolicy, TriggeringEvent
from services.campaigns.domain.definition import parse_definition
from services.campaigns.domain.model import CampaignDefinition
from shared.contracts.campaigns import Channel

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def a_definition_document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": "Big order cross-sell",
        "objective": "cross_sell",
        "trigger": {"event_type": "OrderPlaced", "condition": "event.total > 1000"},
        "audience": {"exclude_segments": ["fraud_flagged"]},
        "action": {"kind": "offer", "channels": ["email", "sms"], "template": "deposit-rates",
                   "offer": {"sku": "DEPOSIT-12M", "discount_pct": 10, "valid_days": 30}},
        "caps": {"per_customer": 1},
        "budget": {"total": "1000.00", "cost_per_send": {"email": "0.10", "sms": "0.50"}},
        "control_group_pct": 0,
    }
    document.update(overrides)
    return document


def a_campaign(**overrides: Any) -> CampaignDefinition:
    _, definition = parse_definition(a_definition_document(**overrides))
    definition.validate(event_fields=trigger_event_fields())
    return definition


def a_customer(**overrides: Any) -> CustomerSnapshot:
    values: dict[str, Any] = {
        "customer_id": str(uuid.uuid4()),
        "consents": frozenset({Channel.EMAIL, Channel.SMS}),
        "orders_count": 2,
        "orders_total": Decimal("2500.00"),
        "timezone": "UTC",
    }
    values.update(overrides)
    return CustomerSnapshot(**values)


def an_order_event(total: str = "1500.00", **data: Any) -> TriggeringEvent:
    return TriggeringEvent(str(uuid.uuid4()), "OrderPlaced", {"total": Decimal(total), **data})


def no_counters(**overrides: Any) -> Counters:
    return Counters(**overrides)


POLICY = MarketingPolicy()
