"""The ticketing read model as the command handlers see it: a port, so they run on PostgreSQL or in memory alike.

Handlers receive it as ``uow.rows`` (``shared.store.ports.Work[ReadModel]``), bound to the command's
transaction: ``services.ticketing.adapters.readmodel.PostgresReadModel`` in the service, an in-memory
one (``tests/ticketing/fakes.py``) in unit tests. Every read and write of ticketing's own tables a
command needs is here (the ``tickets`` rows, the customer replica, the calendars and the tiers'
assignment), and none takes a connection: the adapter holds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from services.ticketing.domain.calendar import BusinessCalendar
from services.ticketing.domain.model import Ticket
from shared.contracts.ticketing import CalendarSpec


@dataclass(frozen=True, slots=True)
class KnownCustomer:
    """A customer as ticketing sees them (its replica of ``customer.events``)."""

    customer_id: UUID
    relationship_type: str | None
    account_manager_id: str | None
    status: str
    merged_into: UUID | None


class ReadModel(Protocol):
    """Ticketing's tables, in the command's transaction."""

    # --- the customer replica ---------------------------------------------------------------------

    async def hold_customer(self, customer_id: UUID) -> None:
        """Serialise what happens to one customer's tickets until the transaction ends (opening vs registration)."""
        ...

    async def customer(self, customer_id: UUID) -> KnownCustomer | None:
        """What the replica knows of a customer (``None``: not seen yet)."""
        ...

    async def erased_among(self, customer_ids: Sequence[UUID]) -> set[UUID]:
        """The customers among these who were erased (directly, or as a duplicate of an erased survivor)."""
        ...

    # --- tickets ----------------------------------------------------------------------------------

    async def ticket(self, ticket_id: UUID) -> dict[str, Any] | None:
        """The ticket as the API shows it (``TicketRead``), from its read row; ``None`` when there is none."""
        ...

    async def save_tickets(
        self, tickets: Sequence[Ticket], *, personal: Mapping[UUID, Mapping[str, str | None]] | None = None
    ) -> None:
        """Upsert the tickets' read rows; ``personal`` is the free text a command brought, by ticket id."""
        ...

    # --- calendars --------------------------------------------------------------------------------

    async def calendar_named(self, name: str) -> BusinessCalendar | None:
        """A calendar's definition, locked for share (a change of it waits for this transaction)."""
        ...

    async def calendar_of_tier(self, tier: str) -> tuple[str | None, BusinessCalendar]:
        """The calendar a tier counts on, ``(None, ALWAYS_OPEN)`` for 24/7 (locked for share)."""
        ...

    async def calendar(self, name: str) -> dict[str, Any] | None:
        """A calendar as the API shows it (``CalendarRead``: definition, tiers, version); ``None``: none."""
        ...

    async def save_calendar(self, name: str, spec: CalendarSpec, version: int) -> None:
        """Upsert a calendar's definition at ``version``."""
        ...

    async def lock_tiers(self, tiers: Sequence[str]) -> None:
        """Take the tiers' assignment rows for update (the counterpart of the openings' share lock)."""
        ...

    async def tier_assignments(self) -> dict[str, str | None]:
        """Every tier's calendar name (``None``: 24/7)."""
        ...

    async def save_tier_assignments(self, tiers: Mapping[str, str | None]) -> None:
        """Set the calendars of these tiers."""
        ...

    async def open_tickets_on_calendar(self, name: str, *, after: UUID | None, limit: int) -> list[UUID]:
        """Unfinished tickets counting on calendar ``name``, by id after ``after`` (a page to re-plan)."""
        ...

    async def open_tickets_of_tier(
        self, tier: str, calendar: str | None, *, after: UUID | None, limit: int
    ) -> list[UUID]:
        """Unfinished tickets of ``tier`` not yet on ``calendar``, by id after ``after``."""
        ...
