"""Ticketing's own Prometheus instruments, on the app's registry (``/metrics``).

Seed 004 asks that every transfer be an exception that is counted: ``ticket_transfers_total`` by
reason shows which reasons bounce customers most. Its founding rule (the first person who talks to
the customer owns the problem) is counted too: ``ticket_first_contact_owners_total`` by ``via``
(``reply`` or ``contact``) counts unowned tickets whose owner became the agent who first replied
publicly or logged a contact; that is an assignment, never a transfer. Counted when a command
commits, never on a replayed idempotent answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter


@dataclass(frozen=True, slots=True)
class TicketingMetrics:
    tickets_opened: Counter
    transfers: Counter
    escalations: Counter
    first_contact_owners: Counter


def ticketing_metrics(registry: CollectorRegistry) -> TicketingMetrics:
    """Create the instruments on ``registry`` (once per app)."""
    return TicketingMetrics(
        tickets_opened=Counter("tickets_opened_total", "Tickets opened.", ("kind", "channel"), registry=registry),
        transfers=Counter("ticket_transfers_total", "Ticket ownership transfers.", ("reason",), registry=registry),
        escalations=Counter("ticket_manual_escalations_total", "Tickets escalated by hand.", registry=registry),
        first_contact_owners=Counter(
            "ticket_first_contact_owners_total",
            "Unowned tickets owned by the agent who first replied publicly (reply) or logged a contact (contact).",
            ("via",),
            registry=registry,
        ),
    )
