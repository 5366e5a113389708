"""Ticketing's own Prometheus instruments, on the app's registry (``/metrics``).

Seed 004 asks that every transfer be an exception that is counted: ``ticket_transfers_total`` by
reason shows which reasons bounce customers most. Counted when a command commits, never on a
replayed idempotent answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter


@dataclass(frozen=True, slots=True)
class TicketingMetrics:
    tickets_opened: Counter
    transfers: Counter
    escalations: Counter


def ticketing_metrics(registry: CollectorRegistry) -> TicketingMetrics:
    """Create the instruments on ``registry`` (once per app)."""
    return TicketingMetrics(
        tickets_opened=Counter("tickets_opened_total", "Tickets opened.", ("kind", "channel"), registry=registry),
        transfers=Counter("ticket_transfers_total", "Ticket ownership transfers.", ("reason",), registry=registry),
        escalations=Counter("ticket_manual_escalations_total", "Tickets escalated by hand.", registry=registry),
    )
