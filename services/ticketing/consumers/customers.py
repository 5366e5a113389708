"""The customer replica: a projector of ``customer.events`` for the consumer kit (thin).

Run it with ``c360 worker ticketing customer-replica``. It decodes nothing itself (the kit does)
and decides nothing itself: each event is handed to ``application.customers``, inside the kit's
transaction, so the replica, the ticket events it causes and the inbox record commit together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from services.ticketing.application import customers
from shared.clock import Clock, SystemClock
from shared.consuming.consumer import ReceivedEvent
from shared.contracts.customer import (
    AccountManagerAssigned,
    CustomerErased,
    CustomerProfileUpdated,
    CustomerRegistered,
    CustomersMerged,
    CustomersUnmerged,
)
from shared.store.eventstore import EventStore

TOPICS = ("customer.events",)


class WithoutPersonalData:
    """A key provider that opens nothing: ticketing needs no customer's personal data.

    The kit then reads every sealed field (``enc:v1:...``) as ``None`` before validating, so an
    encrypted ``birth_date`` never makes a ``CustomerRegistered`` look invalid, and ticketing never
    holds a customer's name, email or phone.
    """

    async def keys_for(self, source: str, subjects: set[str]) -> Mapping[str, bytes]:
        """No keys, ever."""
        return {}


class CustomerReplicaProjector:
    """Keeps ``customer_replica`` and reacts to merges and erasures."""

    name = "ticketing.customer-replica"
    event_types = frozenset(kind.event_type for kind in (
        CustomerRegistered, CustomerProfileUpdated, AccountManagerAssigned, CustomersMerged, CustomersUnmerged,
        CustomerErased,
    ))
    """What ``apply`` acts on: the consumer kit passes over the other customer events undecoded."""

    def __init__(self, store: EventStore, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        """Apply customer events in partition order (other customer events are ignored)."""
        for received in events:
            event, now = received.event, self.clock.now()
            if isinstance(event, CustomerRegistered):
                await customers.customer_registered(conn, self.store, event, now)
            elif (
                isinstance(event, CustomerProfileUpdated)
                and "relationship_type" in event.changed_fields
                and event.relationship_type is not None
            ):
                await customers.relationship_changed(
                    conn, customer_id=event.customer_id, relationship_type=event.relationship_type
                )
            elif isinstance(event, AccountManagerAssigned):
                await customers.account_manager_assigned(conn, self.store, event, now)
            elif isinstance(event, CustomersMerged):
                await customers.customers_merged(
                    conn, self.store, survivor_id=event.customer_id, duplicate_id=event.duplicate_id, now=now
                )
            elif isinstance(event, CustomersUnmerged):
                await customers.customers_unmerged(conn, duplicate_id=event.duplicate_id)
            elif isinstance(event, CustomerErased):
                await customers.customer_erased(
                    conn, self.store, customer_id=event.customer_id, now=now, erasure_event_id=received.event_id
                )
