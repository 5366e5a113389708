"""The ticket's rules: ownership, transfers, conversation, status machine, SLA, resolution."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.ticketing.domain.model import Ticket, TicketRules
from services.ticketing.domain.sla import DEDICATED_TIER, DEFAULT_POLICY
from shared.contracts.ticketing import (
    SlaBreached,
    TicketAssigned,
    TicketEscalated,
    TicketResolved,
    TicketTransferred,
)
from shared.errors import Conflict, InvalidInput
from shared.ids import new_id
from tests.ticketing.builders import T0, a_ticket

RULES = TicketRules()
HOUR = timedelta(hours=1)


def names(ticket: Ticket) -> list[str]:
    return [e.event_type for e in ticket.pull_events()]


def test_a_complaint_taken_by_an_agent_is_filed_and_owned_from_the_first_second() -> None:
    ticket = Ticket.open(
        ticket_id=new_id(),
        customer_id=new_id(),
        kind="complaint",
        channel="phone",
        subject="Broken",
        description="Arrived broken",
        now=T0,
        policy=DEFAULT_POLICY,
        agent_id="agent-ayse",
    )
    events = ticket.pull_events()
    assert [e.event_type for e in events] == ["TicketOpened", "ComplaintFiled", "TicketAssigned"]
    assigned = events[2]
    assert isinstance(assigned, TicketAssigned) and assigned.routing == "first_contact"
    assert ticket.owner_id == "agent-ayse"
    assert ticket.status == "in_progress"


def test_a_ticket_without_an_agent_goes_to_the_key_accounts_manager() -> None:
    ticket = a_ticket(agent_id=None, account_manager_id="am-kemal")
    assert ticket.owner_id == "am-kemal"


def test_the_agent_who_took_the_contact_wins_over_the_account_manager() -> None:
    ticket = a_ticket(agent_id="agent-ayse", account_manager_id="am-kemal")
    assert ticket.owner_id == "agent-ayse"


def test_a_ticket_nobody_took_is_open_and_unowned() -> None:
    ticket = a_ticket(agent_id=None)
    assert (ticket.status, ticket.owner_id) == ("open", None)


def test_dedicated_assistance_tickets_are_due_sooner() -> None:
    standard = a_ticket(priority="high")
    dedicated = a_ticket(priority="high", customer_tier=DEDICATED_TIER)
    assert dedicated.next_due is not None and standard.next_due is not None
    assert dedicated.next_due < standard.next_due


def test_an_unknown_priority_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="priority"):
        a_ticket(priority="asap")


def test_assigning_an_owned_ticket_is_a_conflict_pointing_to_transfer() -> None:
    ticket = a_ticket()
    with pytest.raises(Conflict, match="transfer"):
        ticket.assign(agent_id="agent-bora", by="lead", now=T0)


def test_assigning_an_unowned_ticket_starts_the_work() -> None:
    ticket = a_ticket(agent_id=None)
    ticket.assign(agent_id="agent-bora", by="lead", now=T0)
    assert (ticket.owner_id, ticket.status) == ("agent-bora", "in_progress")


def test_transfer_requires_a_reason_from_the_configured_list() -> None:
    ticket = a_ticket()
    with pytest.raises(InvalidInput, match="reason"):
        ticket.transfer(to_agent_id="agent-bora", reason="bored", note=None, by=None, now=T0, rules=RULES)
    custom = TicketRules(transfer_reasons=("bored",))
    ticket.transfer(to_agent_id="agent-bora", reason="bored", note=None, by=None, now=T0, rules=custom)
    assert ticket.owner_id == "agent-bora"


def test_transfers_are_counted() -> None:
    ticket = a_ticket()
    ticket.transfer(to_agent_id="b", reason="wrong_skill", note="billing", by=None, now=T0, rules=RULES)
    ticket.transfer(to_agent_id="c", reason="out_of_office", note=None, by=None, now=T0, rules=RULES)
    events = ticket.pull_events()
    assert isinstance(events[-1], TicketTransferred)
    assert (events[-1].from_agent_id, events[-1].transfer_count, ticket.transfer_count) == ("b", 2, 2)


def test_transferring_to_the_current_owner_is_a_conflict_with_the_ticket_state() -> None:
    with pytest.raises(Conflict, match="already owned by agent-ayse"):
        a_ticket().transfer(to_agent_id="agent-ayse", reason="other", note=None, by=None, now=T0, rules=RULES)


def test_an_unowned_ticket_cannot_be_transferred() -> None:
    with pytest.raises(Conflict):
        a_ticket(agent_id=None).transfer(to_agent_id="b", reason="other", note=None, by=None, now=T0, rules=RULES)


def test_the_first_public_agent_reply_is_the_first_response_internal_notes_are_not() -> None:
    ticket = a_ticket()
    ticket.comment(
        comment_id=new_id(), author_id="agent-ayse", body="checking", visibility="internal", now=T0 + HOUR / 4
    )
    ticket.comment(
        comment_id=new_id(), author_id="agent-ayse", body="On its way", visibility="public", now=T0 + HOUR / 2
    )
    ticket.comment(comment_id=new_id(), author_id="agent-ayse", body="Again", visibility="public", now=T0 + HOUR)
    flags = [getattr(e, "first_response", None) for e in ticket.pull_events()]
    assert flags == [False, True, False]
    assert ticket.time_to_first_response_seconds == 1800


def test_a_logged_call_counts_as_the_first_response() -> None:
    ticket = a_ticket()
    ticket.log_contact(
        contact_id=new_id(),
        agent_id="agent-ayse",
        method="call",
        direction="outbound",
        summary="called back",
        now=T0 + HOUR / 2,
    )
    assert ticket.time_to_first_response_seconds == 1800


def test_status_machine_waits_resumes_resolves_reopens_and_closes() -> None:
    ticket = a_ticket()
    ticket.wait_for_customer(by="a", now=T0 + HOUR)
    assert ticket.status == "waiting_customer"
    ticket.resume(by="a", now=T0 + 2 * HOUR)
    ticket.resolve(resolution="Reshipped", root_cause=None, by="a", now=T0 + 3 * HOUR, rules=RULES)
    assert ticket.status == "resolved"
    ticket.reopen(reason="Still nothing", by="a", now=T0 + 4 * HOUR, rules=RULES)
    assert ticket.status == "reopened"
    ticket.resume(by="a", now=T0 + 5 * HOUR)
    assert ticket.status == "in_progress"
    ticket.resolve(resolution="Refunded", root_cause=None, by="a", now=T0 + 6 * HOUR, rules=RULES)
    ticket.close(by="a", now=T0 + 7 * HOUR)
    assert ticket.status == "closed"


def test_a_customer_reply_resumes_a_ticket_waiting_on_them() -> None:
    ticket = a_ticket()
    ticket.wait_for_customer(by="a", now=T0 + HOUR)
    ticket.comment(
        comment_id=new_id(),
        author_id="customer",
        author_type="customer",
        body="Here it is",
        visibility="public",
        now=T0 + 2 * HOUR,
    )
    assert ticket.status == "in_progress"


@pytest.mark.parametrize(
    ("action", "status"),
    [
        (lambda t: t.close(by=None, now=T0), "in_progress"),
        (lambda t: t.resume(by=None, now=T0), "in_progress"),
        (lambda t: t.reopen(reason=None, by=None, now=T0, rules=RULES), "in_progress"),
    ],
)
def test_impossible_transitions_are_conflicts_naming_the_current_status(action, status) -> None:
    ticket = a_ticket()
    with pytest.raises(Conflict) as raised:
        action(ticket)
    assert raised.value.extra["current_status"] == status


def test_an_unowned_open_ticket_cannot_be_resolved() -> None:
    with pytest.raises(Conflict) as raised:
        a_ticket(agent_id=None).resolve(resolution="x", root_cause=None, by=None, now=T0, rules=RULES)
    assert raised.value.extra["current_status"] == "open"


def test_a_complaint_needs_a_root_cause_from_the_list() -> None:
    ticket = a_ticket(kind="complaint")
    with pytest.raises(InvalidInput, match="root_cause"):
        ticket.resolve(resolution="Refunded", root_cause=None, by=None, now=T0, rules=RULES)
    with pytest.raises(InvalidInput, match="root_cause"):
        ticket.resolve(resolution="Refunded", root_cause="gremlins", by=None, now=T0, rules=RULES)
    ticket.resolve(resolution="Refunded", root_cause="delivery_delay", by=None, now=T0 + HOUR, rules=RULES)
    assert ticket.root_cause == "delivery_delay"


def test_resolution_reports_kpis_and_first_contact_resolution() -> None:
    ticket = a_ticket()
    ticket.comment(comment_id=new_id(), author_id="agent-ayse", body="Hi", visibility="public", now=T0 + HOUR / 2)
    ticket.wait_for_customer(by=None, now=T0 + HOUR)
    ticket.resume(by=None, now=T0 + 3 * HOUR)
    ticket.resolve(resolution="Done", root_cause=None, by="agent-ayse", now=T0 + 4 * HOUR, rules=RULES)
    resolved = ticket.pull_events()[-1]
    assert isinstance(resolved, TicketResolved)
    assert resolved.time_to_first_response_seconds == 1800
    assert resolved.time_to_resolve_seconds == 2 * 3600, "waiting on the customer does not count"
    assert resolved.first_contact_resolution is True
    assert resolved.transfer_count == 0


def test_a_transferred_ticket_is_not_a_first_contact_resolution() -> None:
    ticket = a_ticket()
    ticket.transfer(to_agent_id="b", reason="wrong_skill", note=None, by=None, now=T0, rules=RULES)
    ticket.resolve(resolution="Done", root_cause=None, by="b", now=T0 + HOUR, rules=RULES)
    resolved = ticket.pull_events()[-1]
    assert isinstance(resolved, TicketResolved)
    assert (resolved.first_contact_resolution, resolved.transfer_count) == (False, 1)


def test_reopening_after_the_window_is_a_conflict() -> None:
    ticket = a_ticket()
    ticket.resolve(resolution="Done", root_cause=None, by=None, now=T0, rules=RULES)
    with pytest.raises(Conflict, match="window"):
        ticket.reopen(reason=None, by=None, now=T0 + timedelta(days=15), rules=RULES)


def test_a_breach_is_emitted_once_and_escalates_one_level() -> None:
    ticket = a_ticket(priority="urgent")
    assert ticket.record_sla_breaches(T0 + 2 * HOUR) == 1
    events = ticket.pull_events()
    assert [type(e) for e in events] == [SlaBreached, TicketEscalated]
    breached, escalated = events
    assert isinstance(breached, SlaBreached) and isinstance(escalated, TicketEscalated)
    assert (breached.target, breached.breached_by_seconds) == ("first_response", 3600)
    assert (escalated.level, escalated.trigger) == (1, "sla_breach")
    assert ticket.record_sla_breaches(T0 + 3 * HOUR) == 0


def test_no_breach_while_waiting_on_the_customer() -> None:
    ticket = a_ticket(priority="urgent")
    ticket.wait_for_customer(by=None, now=T0 + HOUR / 2)
    assert ticket.record_sla_breaches(T0 + 30 * HOUR) == 0


def test_a_late_resolution_reports_the_missed_breach_first() -> None:
    ticket = a_ticket(priority="urgent")
    ticket.comment(comment_id=new_id(), author_id="agent-ayse", body="Hi", visibility="public", now=T0)
    ticket.resolve(resolution="Done", root_cause=None, by=None, now=T0 + 10 * HOUR, rules=RULES)
    events = ticket.pull_events()
    assert [e.event_type for e in events][-3:] == ["SlaBreached", "TicketEscalated", "TicketResolved"]
    resolved = events[-1]
    assert isinstance(resolved, TicketResolved) and resolved.sla_breached


def test_manual_escalation_raises_the_level_and_is_refused_after_resolution() -> None:
    ticket = a_ticket()
    ticket.escalate(by="lead", note="VIP", now=T0)
    assert ticket.escalation_level == 1
    ticket.resolve(resolution="Done", root_cause=None, by=None, now=T0, rules=RULES)
    with pytest.raises(Conflict):
        ticket.escalate(by="lead", note=None, now=T0)


def test_rehydrating_from_history_gives_the_same_state() -> None:
    ticket = a_ticket()
    history = []
    ticket = Ticket.open(
        ticket_id=new_id(),
        customer_id=new_id(),
        kind="complaint",
        channel="web",
        subject=None,
        description=None,
        now=T0,
        policy=DEFAULT_POLICY,
        agent_id="a",
    )
    ticket.transfer(to_agent_id="b", reason="wrong_skill", note=None, by=None, now=T0, rules=RULES)
    ticket.record_sla_breaches(T0 + 30 * HOUR)
    history = ticket.pull_events()
    again = Ticket.rehydrate(history)
    assert (again.owner_id, again.transfer_count, again.escalation_level, again.breached, again.version) == (
        ticket.owner_id,
        ticket.transfer_count,
        ticket.escalation_level,
        ticket.breached,
        ticket.version,
    )


def test_a_ticket_for_an_unknown_customer_is_closed_and_a_verified_one_is_not() -> None:
    provisional = a_ticket(customer_verified=False)
    assert provisional.close_for_unknown_customer(T0 + timedelta(days=2))
    assert provisional.status == "closed"
    assert not a_ticket().close_for_unknown_customer(T0)


def test_a_merged_duplicates_ticket_moves_to_the_survivor() -> None:
    ticket = a_ticket()
    survivor = new_id()
    assert ticket.move_to_customer(survivor, T0)
    assert ticket.customer_id == survivor


def test_a_provisional_ticket_is_verified_once_and_not_after_the_grace_window_closed_it() -> None:
    verified = a_ticket(customer_verified=False)
    assert verified.verify_customer(customer_tier="dedicated_assistance", now=T0)
    assert (verified.customer_verified, verified.customer_tier) == (True, "dedicated_assistance")
    assert not verified.verify_customer(customer_tier="standard", now=T0)
    closed = a_ticket(customer_verified=False)
    assert closed.close_for_unknown_customer(T0 + timedelta(days=2))
    closed.pull_events()
    assert not closed.verify_customer(customer_tier="standard", now=T0 + timedelta(days=2))
    assert closed.pull_events() == [] and closed.customer_verified is False


def test_a_breach_before_a_reopening_still_counts_as_breached_after_it() -> None:
    ticket = Ticket.open(
        ticket_id=new_id(),
        customer_id=new_id(),
        kind="question",
        channel="phone",
        subject=None,
        description=None,
        now=T0,
        policy=DEFAULT_POLICY,
        priority="urgent",
        agent_id="agent-ayse",
    )
    ticket.comment(comment_id=new_id(), author_id="agent-ayse", body="Hi", visibility="public", now=T0)
    assert ticket.record_sla_breaches(T0 + 9 * HOUR) == 1
    ticket.resolve(resolution="Done", root_cause=None, by=None, now=T0 + 10 * HOUR, rules=RULES)
    ticket.reopen(reason=None, by=None, now=T0 + 11 * HOUR, rules=RULES)
    assert ticket.breached, "the missed target stays missed"
    assert ticket.next_due == T0 + 19 * HOUR, "a fresh resolution target that can breach again"
    ticket.resume(by=None, now=T0 + 11 * HOUR)
    ticket.resolve(resolution="Done", root_cause=None, by=None, now=T0 + 12 * HOUR, rules=RULES)
    history = ticket.pull_events()
    resolved = history[-1]
    assert isinstance(resolved, TicketResolved) and resolved.sla_breached
    assert Ticket.rehydrate(history).breached
