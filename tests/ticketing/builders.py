"""Test data builders for the ticketing service (unique ids per call)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.ticketing.domain.model import Ticket
from services.ticketing.domain.sla import DEFAULT_POLICY
from shared.ids import new_id

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def a_ticket(**overrides: Any) -> Ticket:
    """A freshly opened normal-priority question (events pulled, version 1+)."""
    fields: dict[str, Any] = {
        "ticket_id": new_id(),
        "customer_id": new_id(),
        "kind": "question",
        "channel": "phone",
        "subject": "Where is my order?",
        "description": "Ordered last week, nothing arrived.",
        "now": T0,
        "policy": DEFAULT_POLICY,
        "agent_id": "agent-ayse",
    }
    fields.update(overrides)
    ticket = Ticket.open(**fields)
    ticket.pull_events()
    return ticket


def a_ticket_request(**overrides: Any) -> dict[str, Any]:
    """A valid POST /v1/tickets body."""
    body: dict[str, Any] = {
        "customer_id": str(new_id()),
        "kind": "question",
        "channel": "phone",
        "subject": "Where is my order?",
        "description": "Ordered last week, nothing arrived.",
    }
    body.update(overrides)
    return body
