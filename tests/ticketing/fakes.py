"""Ticketing's read model in memory, for unit tests of the command handlers (no database).

``InMemoryReadModel`` implements ``services.ticketing.application.ports.ReadModel`` with dicts: the
``tickets`` rows (kept as the SQL upsert keeps them, and shown with the same ``ticket_json``), the
customer replica, the calendars and the tiers' assignment. ``fake_work()`` gives a ``FakeWork`` on it
(re-planning reads the tickets back from the fake's streams with ``load_sealed``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from services.ticketing.adapters.readmodel import KEPT_ON_UPDATE, read_row, ticket_json
from services.ticketing.application.ports import KnownCustomer, ReadModel
from services.ticketing.domain.calendar import ALWAYS_OPEN, BusinessCalendar, calendar_from_spec
from services.ticketing.domain.model import Ticket
from shared.contracts.ticketing import CalendarSpec
from shared.testing.fakes import FakeWork

FINISHED = ("resolved", "closed")


@dataclass
class InMemoryReadModel:
    """Ticketing's tables as dicts; ``held`` and ``locked_tiers`` record the locks a handler took."""

    customers: dict[UUID, KnownCustomer] = field(default_factory=dict)
    tickets: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    calendars: dict[str, tuple[CalendarSpec, int]] = field(default_factory=dict)
    tiers: dict[str, str | None] = field(default_factory=dict)
    held: list[UUID] = field(default_factory=list)
    locked_tiers: list[str] = field(default_factory=list)

    # --- the customer replica ---------------------------------------------------------------------

    async def hold_customer(self, customer_id: UUID) -> None:
        self.held.append(customer_id)

    async def customer(self, customer_id: UUID) -> KnownCustomer | None:
        return self.customers.get(customer_id)

    async def erased_among(self, customer_ids: Sequence[UUID]) -> set[UUID]:
        def erased(customer: KnownCustomer | None) -> bool:
            return customer is not None and customer.status == "erased"

        return {
            c for c in customer_ids
            if erased(found := self.customers.get(c))
            or (found is not None and found.merged_into is not None and erased(self.customers.get(found.merged_into)))
        }

    # --- tickets ----------------------------------------------------------------------------------

    async def ticket(self, ticket_id: UUID) -> dict[str, Any] | None:
        row = self.tickets.get(ticket_id)
        return None if row is None else ticket_json(row)

    async def save_tickets(
        self, tickets: Sequence[Ticket], *, personal: Mapping[UUID, Mapping[str, str | None]] | None = None
    ) -> None:
        for ticket in tickets:
            assert ticket.id is not None
            row = read_row(ticket, (personal or {}).get(ticket.id))
            before = self.tickets.get(ticket.id)
            if before is not None:  # as the upsert: opening columns stay, a resolution is never blanked
                row.update({name: before[name] for name in KEPT_ON_UPDATE})
                row["resolution"] = row["resolution"] if row["resolution"] is not None else before["resolution"]
            self.tickets[ticket.id] = row

    # --- calendars --------------------------------------------------------------------------------

    async def calendar_named(self, name: str) -> BusinessCalendar | None:
        found = self.calendars.get(name)
        return None if found is None else calendar_from_spec(found[0])

    async def calendar_of_tier(self, tier: str) -> tuple[str | None, BusinessCalendar]:
        name = self.tiers.get(tier)
        if name is None or name not in self.calendars:
            return None, ALWAYS_OPEN
        return name, calendar_from_spec(self.calendars[name][0])

    async def calendar(self, name: str) -> dict[str, Any] | None:
        if name not in self.calendars:
            return None
        spec, version = self.calendars[name]
        tiers = sorted(tier for tier, calendar in self.tiers.items() if calendar == name)
        return {"name": name, **spec.model_dump(mode="json"), "tiers": tiers, "version": version}

    async def save_calendar(self, name: str, spec: CalendarSpec, version: int) -> None:
        self.calendars[name] = (spec, version)

    async def lock_tiers(self, tiers: Sequence[str]) -> None:
        self.locked_tiers.extend(tiers)

    async def tier_assignments(self) -> dict[str, str | None]:
        return dict(self.tiers)

    async def save_tier_assignments(self, tiers: Mapping[str, str | None]) -> None:
        self.tiers.update(tiers)

    async def open_tickets_on_calendar(self, name: str, *, after: UUID | None, limit: int) -> list[UUID]:
        return self._open_tickets(lambda row: row["sla_calendar"] == name, after, limit)

    async def open_tickets_of_tier(
        self, tier: str, calendar: str | None, *, after: UUID | None, limit: int
    ) -> list[UUID]:
        return self._open_tickets(
            lambda row: row["customer_tier"] == tier and row["sla_calendar"] != calendar, after, limit
        )

    def _open_tickets(self, matches: Callable[[dict[str, Any]], bool], after: UUID | None, limit: int) -> list[UUID]:
        ids = sorted(
            ticket_id for ticket_id, row in self.tickets.items()
            if row["status"] not in FINISHED and matches(row) and (after is None or ticket_id > after)
        )
        return ids[:limit]


def fake_work(rows: InMemoryReadModel | None = None) -> FakeWork[InMemoryReadModel]:
    """An in-memory unit of work on ``rows`` (a fresh read model by default)."""
    return FakeWork(fake_rows=InMemoryReadModel() if rows is None else rows)


def as_read_model(rows: InMemoryReadModel) -> ReadModel:
    """Where tests are type-checked, mypy proves here that the fake implements the whole port."""
    return rows
