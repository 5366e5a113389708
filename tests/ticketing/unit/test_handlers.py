"""Ticket command handlers on in-memory ports: the events they append, the outcome they return, their refusals.

No database: ``fake_work()`` is the event log plus ``InMemoryReadModel``. The same handlers run on
PostgreSQL through the API tests (``tests/ticketing/api``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from services.ticketing.application import handlers
from services.ticketing.application.ports import KnownCustomer
from services.ticketing.domain.model import Ticket, TicketRules
from services.ticketing.domain.sla import DEDICATED_TIER, DEFAULT_POLICY, STANDARD_TIER
from shared.contracts.ticketing import (
    CalendarSpec,
    CustomerContacted,
    TicketAssigned,
    TicketCommented,
    TicketEscalated,
    TicketOpened,
    TicketResolved,
    TicketTransferred,
    WeeklyHours,
    WorkingHours,
)
from shared.errors import Conflict, Gone, InvalidInput, NotFound, PreconditionFailed
from shared.ids import new_id
from shared.store.outcomes import Created, Updated
from shared.testing.fakes import FakeWork
from tests.ticketing.fakes import InMemoryReadModel, fake_work

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
POLICY = handlers.TicketingPolicy(rules=TicketRules(), sla=DEFAULT_POLICY)
Work = FakeWork[InMemoryReadModel]


def office() -> CalendarSpec:
    hours = [WorkingHours(start="09:00", end="17:00")]
    week = WeeklyHours(monday=hours, tuesday=hours, wednesday=hours, thursday=hours, friday=hours)
    return CalendarSpec(time_zone="UTC", weekly_hours=week)


def a_known_customer(work: Work, **fields: Any) -> UUID:
    known = {"relationship_type": "long_term", "account_manager_id": None, "status": "active", "merged_into": None}
    customer = KnownCustomer(customer_id=new_id(), **{**known, **fields})
    work.rows.customers[customer.customer_id] = customer
    return customer.customer_id


async def given_ticket(work: Work, *, customer_id: UUID | None = None, **overrides: Any) -> Ticket:
    """A ticket already opened (its events in the log, its read row saved), not counted in ``appended``."""
    fields: dict[str, Any] = {
        "ticket_id": new_id(), "customer_id": customer_id or new_id(), "kind": "question", "channel": "phone",
        "subject": "Where is my order?", "description": "Nothing arrived.", "now": NOW, "policy": DEFAULT_POLICY,
        "agent_id": "agent-ayse",
    }
    ticket = Ticket.open(**{**fields, **overrides})
    work.seed(str(ticket.id), "ticket", ticket.pull_events(), subject=str(ticket.customer_id))
    await work.rows.save_tickets([ticket], personal={ticket.id: {"subject": fields["subject"]}})
    return ticket


def opening(customer_id: UUID, **fields: Any) -> handlers.OpenTicket:
    return handlers.OpenTicket(customer_id=customer_id, kind=fields.pop("kind", "question"), channel="phone",
                               subject="Kettle leaks", description="Water everywhere", **fields)


def types(work: Work) -> list[str]:
    return [e.event_type for e in work.events()]


# --- opening ----------------------------------------------------------------------------------------


async def test_opening_for_a_known_customer_creates_a_verified_owned_ticket() -> None:
    work = fake_work()
    customer = a_known_customer(work)
    outcome = await handlers.open_ticket(work, command=opening(customer, agent_id="agent-ayse"), policy=POLICY,
                                         now=NOW)
    assert isinstance(outcome, Created)
    assert types(work) == ["TicketOpened", "TicketAssigned"]
    opened = work.events()[0]
    assert isinstance(opened, TicketOpened) and opened.customer_id == customer and opened.customer_verified
    assert outcome.resource_id == str(opened.ticket_id) == outcome.resource["id"]
    assert outcome.version == 2 == outcome.resource["version"]
    assert outcome.resource["owner_id"] == "agent-ayse" and outcome.resource["subject"] == "Kettle leaks"
    assert work.rows.held == [customer]  # the customer's lock, against a concurrent registration


async def test_an_unseen_customer_gets_a_provisional_standard_ticket() -> None:
    work = fake_work()
    outcome = await handlers.open_ticket(work, command=opening(new_id()), policy=POLICY, now=NOW)
    assert types(work) == ["TicketOpened"]
    assert (outcome.resource["customer_verified"], outcome.resource["customer_tier"]) == (False, STANDARD_TIER)
    assert outcome.resource["owner_id"] is None and outcome.version == 1


async def test_a_dedicated_customer_counts_on_the_tiers_calendar_and_goes_to_the_account_manager() -> None:
    work = fake_work()
    customer = a_known_customer(work, relationship_type="dedicated_assistance", account_manager_id="am-kemal")
    await work.rows.save_calendar("office", office(), 1)
    work.rows.tiers[DEDICATED_TIER] = "office"
    evening = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
    outcome = await handlers.open_ticket(work, command=opening(customer), policy=POLICY, now=evening)
    body = outcome.resource
    assert (body["customer_tier"], body["sla_calendar"], body["owner_id"]) == (DEDICATED_TIER, "office", "am-kemal")
    assert body["first_response_due"].startswith("2026-03-03T")  # counted from Tuesday 09:00, not from 18:00


async def test_a_merged_duplicates_ticket_belongs_to_the_survivor() -> None:
    work = fake_work()
    survivor = a_known_customer(work, account_manager_id="am-kemal")
    duplicate = a_known_customer(work, status="merged", merged_into=survivor)
    outcome = await handlers.open_ticket(work, command=opening(duplicate), policy=POLICY, now=NOW)
    assert outcome.resource["customer_id"] == str(survivor) and outcome.resource["owner_id"] == "am-kemal"
    assert work.appended[0].subject == str(survivor)


async def test_an_erased_customer_cannot_open_a_ticket() -> None:
    work = fake_work()
    customer = a_known_customer(work, status="erased")
    with pytest.raises(Gone):
        await handlers.open_ticket(work, command=opening(customer), policy=POLICY, now=NOW)
    assert work.appended == [] and work.rows.tickets == {}


# --- ownership --------------------------------------------------------------------------------------


async def test_assigning_an_unowned_ticket_records_the_owner_and_answers_the_new_version() -> None:
    work = fake_work()
    ticket = await given_ticket(work, agent_id=None)
    outcome = await handlers.assign_ticket(work, ticket_id=ticket.id, agent_id="agent-can", by="lead",
                                           expected_version=ticket.version, now=NOW)
    assert isinstance(outcome, Updated)
    [assigned] = work.events()
    assert isinstance(assigned, TicketAssigned) and (assigned.agent_id, assigned.assigned_by) == ("agent-can", "lead")
    assert outcome.version == ticket.version + 1 == outcome.resource["version"]
    assert outcome.resource["owner_id"] == "agent-can" and outcome.resource["subject"] == "Where is my order?"


async def test_a_stale_if_match_is_refused_with_the_current_version_and_nothing_is_appended() -> None:
    work = fake_work()
    ticket = await given_ticket(work, agent_id=None)
    with pytest.raises(PreconditionFailed) as refused:
        await handlers.assign_ticket(work, ticket_id=ticket.id, agent_id="agent-can", by="lead",
                                     expected_version=ticket.version + 3, now=NOW)
    assert refused.value.extra["current_version"] == ticket.version
    assert work.appended == []


async def test_a_ticket_that_never_existed_is_not_found() -> None:
    with pytest.raises(NotFound):
        await handlers.close_ticket(fake_work(), ticket_id=new_id(), by="lead", expected_version=None, now=NOW)


async def test_assigning_an_owned_ticket_is_a_conflict() -> None:
    work = fake_work()
    ticket = await given_ticket(work)
    with pytest.raises(Conflict):
        await handlers.assign_ticket(work, ticket_id=ticket.id, agent_id="agent-can", by="lead",
                                     expected_version=None, now=NOW)
    assert work.appended == []


async def test_a_transfer_moves_the_owner_with_its_reason() -> None:
    work = fake_work()
    ticket = await given_ticket(work)
    outcome = await handlers.transfer_ticket(work, ticket_id=ticket.id, to_agent_id="agent-can", reason="wrong_skill",
                                             note="billing", by="agent-ayse", expected_version=None, policy=POLICY,
                                             now=NOW)
    [moved] = work.events()
    assert isinstance(moved, TicketTransferred) and (moved.from_agent_id, moved.reason) == ("agent-ayse", "wrong_skill")
    assert (outcome.resource["owner_id"], outcome.resource["transfer_count"]) == ("agent-can", 1)


async def test_a_transfer_reason_outside_the_configured_list_is_invalid() -> None:
    work = fake_work()
    ticket = await given_ticket(work)
    with pytest.raises(InvalidInput):
        await handlers.transfer_ticket(work, ticket_id=ticket.id, to_agent_id="agent-can", reason="bored", note=None,
                                       by="agent-ayse", expected_version=None, policy=POLICY, now=NOW)


# --- conversation -----------------------------------------------------------------------------------


async def test_a_public_reply_on_an_unowned_ticket_is_created_and_makes_its_author_the_owner() -> None:
    work = fake_work()
    ticket = await given_ticket(work, agent_id=None)
    recorded = handlers.Recorded()
    outcome = await handlers.comment_on_ticket(work, ticket_id=ticket.id, author_id="agent-can", author_type="agent",
                                               body="On its way", visibility="public", expected_version=None,
                                               now=NOW + timedelta(minutes=5), recorded=recorded)
    assert isinstance(outcome, Created) and outcome.resource_id == str(ticket.id)  # 201, Location: the ticket
    assert types(work) == ["TicketCommented", "TicketAssigned"] and recorded.has("TicketAssigned")
    commented = work.events()[0]
    assert isinstance(commented, TicketCommented) and commented.first_response
    assert outcome.resource["first_responded_at"] == "2026-03-02T09:05:00Z"
    assert outcome.resource["owner_id"] == "agent-can"


async def test_a_comment_on_a_closed_ticket_is_a_conflict() -> None:
    work = fake_work()
    ticket = await given_ticket(work)
    await handlers.resolve_ticket(work, ticket_id=ticket.id, resolution="Sent again", root_cause=None, by="agent-ayse",
                                  expected_version=None, policy=POLICY, now=NOW)
    await handlers.close_ticket(work, ticket_id=ticket.id, by="agent-ayse", expected_version=None, now=NOW)
    with pytest.raises(Conflict):
        await handlers.comment_on_ticket(work, ticket_id=ticket.id, author_id="agent-ayse", author_type="agent",
                                         body="?", visibility="internal", expected_version=None, now=NOW)


async def test_a_logged_contact_is_created_and_counts_as_the_first_response() -> None:
    work = fake_work()
    ticket = await given_ticket(work)
    recorded = handlers.Recorded()
    outcome = await handlers.log_customer_contact(work, ticket_id=ticket.id, agent_id="agent-ayse", method="call",
                                                  direction="outbound", summary="Called back", expected_version=None,
                                                  now=NOW + timedelta(hours=1), recorded=recorded)
    assert isinstance(outcome, Created) and outcome.version == ticket.version + 1
    [contacted] = work.events()
    assert isinstance(contacted, CustomerContacted) and contacted.first_response and contacted.method == "call"
    assert not recorded.has("TicketAssigned")  # it already had its owner


# --- status -----------------------------------------------------------------------------------------


async def test_waiting_for_the_customer_and_resuming_pause_and_restart_the_ticket() -> None:
    work = fake_work()
    ticket = await given_ticket(work)
    waiting = await handlers.wait_for_customer(work, ticket_id=ticket.id, by="agent-ayse", expected_version=None,
                                               now=NOW)
    assert waiting.resource["status"] == "waiting_customer" and waiting.resource["next_due_at"] is None
    resumed = await handlers.resume_ticket(work, ticket_id=ticket.id, by="agent-ayse",
                                           expected_version=waiting.version, now=NOW + timedelta(hours=2))
    assert types(work) == ["TicketWaitingOnCustomer", "TicketResumed"]
    assert resumed.resource["status"] == "in_progress" and resumed.version == ticket.version + 2
    assert resumed.resource["resolution_due"] > waiting.resource["resolution_due"]  # moved by the two hours paused


async def test_resuming_a_ticket_in_progress_is_a_conflict() -> None:
    work = fake_work()
    ticket = await given_ticket(work)
    with pytest.raises(Conflict):
        await handlers.resume_ticket(work, ticket_id=ticket.id, by="agent-ayse", expected_version=None, now=NOW)


async def test_escalating_raises_the_level() -> None:
    work = fake_work()
    ticket = await given_ticket(work)
    outcome = await handlers.escalate_ticket(work, ticket_id=ticket.id, by="lead", note="VIP", expected_version=None,
                                             now=NOW)
    [escalated] = work.events()
    assert isinstance(escalated, TicketEscalated) and (escalated.level, escalated.trigger) == (1, "manual")
    assert outcome.resource["escalation_level"] == 1


async def test_resolving_keeps_the_resolution_text_in_the_read_row() -> None:
    work = fake_work()
    ticket = await given_ticket(work, kind="complaint")
    outcome = await handlers.resolve_ticket(work, ticket_id=ticket.id, resolution="Replaced the kettle",
                                            root_cause="product_defect", by="agent-ayse", expected_version=None,
                                            policy=POLICY, now=NOW + timedelta(hours=1))
    [resolved] = work.events()
    assert isinstance(resolved, TicketResolved) and resolved.root_cause == "product_defect"
    assert (outcome.resource["status"], outcome.resource["resolution"]) == ("resolved", "Replaced the kettle")


async def test_an_erased_customers_resolution_text_is_not_kept_in_clear() -> None:
    work = fake_work()
    customer = a_known_customer(work)
    ticket = await given_ticket(work, customer_id=customer)
    work.rows.customers[customer] = KnownCustomer(customer, None, None, "erased", None)
    outcome = await handlers.resolve_ticket(work, ticket_id=ticket.id, resolution="Refunded", root_cause=None,
                                            by="agent-ayse", expected_version=None, policy=POLICY, now=NOW)
    assert outcome.resource["status"] == "resolved" and outcome.resource["resolution"] is None


async def test_a_complaint_needs_a_root_cause_to_be_resolved() -> None:
    work = fake_work()
    ticket = await given_ticket(work, kind="complaint")
    with pytest.raises(InvalidInput):
        await handlers.resolve_ticket(work, ticket_id=ticket.id, resolution="Done", root_cause=None, by="agent-ayse",
                                      expected_version=None, policy=POLICY, now=NOW)
    assert work.appended == []


async def test_reopening_within_the_window_and_not_after_it() -> None:
    work = fake_work()
    ticket = await given_ticket(work)
    await handlers.resolve_ticket(work, ticket_id=ticket.id, resolution="Sent again", root_cause=None, by="agent-ayse",
                                  expected_version=None, policy=POLICY, now=NOW)
    reopened = await handlers.reopen_ticket(work, ticket_id=ticket.id, reason="still missing", by="customer",
                                            expected_version=None, policy=POLICY, now=NOW + timedelta(days=1))
    assert (reopened.resource["status"], reopened.resource["reopen_count"]) == ("reopened", 1)
    assert reopened.resource["resolution"] == "Sent again"  # the read row keeps the last resolution's text
    late = await given_ticket(work)
    await handlers.resolve_ticket(work, ticket_id=late.id, resolution="Sent again", root_cause=None, by="agent-ayse",
                                  expected_version=None, policy=POLICY, now=NOW)
    with pytest.raises(Conflict):
        await handlers.reopen_ticket(work, ticket_id=late.id, reason=None, by="customer", expected_version=None,
                                     policy=POLICY, now=NOW + timedelta(days=15))


async def test_closing_needs_a_resolved_ticket() -> None:
    work = fake_work()
    ticket = await given_ticket(work)
    with pytest.raises(Conflict):
        await handlers.close_ticket(work, ticket_id=ticket.id, by="lead", expected_version=None, now=NOW)
    resolved = await handlers.resolve_ticket(work, ticket_id=ticket.id, resolution="Done", root_cause=None,
                                             by="agent-ayse", expected_version=None, policy=POLICY, now=NOW)
    closed = await handlers.close_ticket(work, ticket_id=ticket.id, by="lead", expected_version=resolved.version,
                                         now=NOW + timedelta(days=1))
    assert types(work) == ["TicketResolved", "TicketClosed"]
    assert closed.resource["status"] == "closed" and closed.resource["closed_at"] == "2026-03-03T09:00:00Z"
