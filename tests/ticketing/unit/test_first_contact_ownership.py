"""Seed 004 on an unowned ticket: the first agent who talks to the customer becomes its owner."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

import pytest

from services.ticketing.domain.model import Ticket, TicketRules
from services.ticketing.domain.sla import DEFAULT_POLICY
from shared.contracts.ticketing import CustomerContacted, TicketAssigned, TicketCommented, TicketResolved
from shared.errors import Conflict
from shared.ids import new_id
from tests.ticketing.builders import T0, a_ticket

RULES = TicketRules()
HOUR = timedelta(hours=1)


def unowned() -> Ticket:
    """Opened from the web: nobody took the contact and the customer has no account manager."""
    ticket = a_ticket(agent_id=None, channel="web")
    assert (ticket.owner_id, ticket.status) == (None, "open")
    return ticket


def reply(
    ticket: Ticket,
    author: str,
    *,
    visibility: Literal["public", "internal"] = "public",
    author_type: Literal["agent", "customer"] = "agent",
    at: datetime = T0,
) -> None:
    ticket.comment(
        comment_id=new_id(), author_id=author, body="…", visibility=visibility, author_type=author_type, now=at
    )


def contact(
    ticket: Ticket, agent: str, *, direction: Literal["inbound", "outbound"] = "outbound", at: datetime = T0
) -> None:
    ticket.log_contact(
        contact_id=new_id(), agent_id=agent, method="call", direction=direction, summary="called", now=at
    )


def test_the_first_public_agent_reply_makes_its_author_the_owner_in_the_same_command() -> None:
    ticket = unowned()
    reply(ticket, "agent-bora", at=T0 + HOUR / 4)
    events = ticket.pull_events()
    assert [e.event_type for e in events] == ["TicketCommented", "TicketAssigned"]
    commented, assigned = events
    assert isinstance(commented, TicketCommented) and commented.first_response
    assert isinstance(assigned, TicketAssigned)
    assert (assigned.agent_id, assigned.routing, assigned.assigned_by, assigned.assigned_at) == (
        "agent-bora",
        "first_contact",
        "agent-bora",
        T0 + HOUR / 4,
    )
    assert (assigned.ticket_id, assigned.customer_id) == (ticket.id, ticket.customer_id)
    assert (ticket.owner_id, ticket.status, ticket.transfer_count) == ("agent-bora", "in_progress", 0)
    assert ticket.time_to_first_response_seconds == 900


@pytest.mark.parametrize("direction", ["outbound", "inbound"])
def test_a_logged_contact_either_way_makes_its_agent_the_owner(direction: Literal["inbound", "outbound"]) -> None:
    ticket = unowned()
    contact(ticket, "agent-cem", direction=direction, at=T0 + HOUR)
    events = ticket.pull_events()
    assert [type(e) for e in events] == [CustomerContacted, TicketAssigned]
    assigned = events[1]
    assert isinstance(assigned, TicketAssigned)
    assert (assigned.agent_id, assigned.routing, assigned.assigned_by) == ("agent-cem", "first_contact", "agent-cem")
    assert (ticket.owner_id, ticket.status) == ("agent-cem", "in_progress")


def test_an_internal_note_is_not_talking_to_the_customer() -> None:
    ticket = unowned()
    reply(ticket, "agent-bora", visibility="internal")
    assert [e.event_type for e in ticket.pull_events()] == ["TicketCommented"]
    assert (ticket.owner_id, ticket.status) == (None, "open")
    reply(ticket, "agent-cem")
    assert [e.event_type for e in ticket.pull_events()] == ["TicketCommented", "TicketAssigned"]
    assert ticket.owner_id == "agent-cem", "the note's author did not talk to the customer; the replier did"


@pytest.mark.parametrize("visibility", ["public", "internal"])
def test_the_customers_own_words_give_no_owner(visibility: Literal["public", "internal"]) -> None:
    ticket = unowned()
    reply(ticket, "customer", visibility=visibility, author_type="customer")
    assert [e.event_type for e in ticket.pull_events()] == ["TicketCommented"]
    assert (ticket.owner_id, ticket.status) == (None, "open")


@pytest.mark.parametrize("talk", [lambda t: reply(t, "agent-bora"), lambda t: contact(t, "agent-bora")])
def test_an_owner_is_never_replaced_by_whoever_talks_next(talk: Callable[[Ticket], None]) -> None:
    taken = a_ticket(agent_id="agent-ayse")
    managed = a_ticket(agent_id=None, account_manager_id="am-kemal")
    picked = unowned()
    picked.assign(agent_id="agent-ayse", by="lead", now=T0)
    picked.pull_events()
    for ticket, owner in ((taken, "agent-ayse"), (managed, "am-kemal"), (picked, "agent-ayse")):
        talk(ticket)
        assert [e.event_type for e in ticket.pull_events()] in (["TicketCommented"], ["CustomerContacted"])
        assert (ticket.owner_id, ticket.transfer_count) == (owner, 0)


def test_the_first_contact_owner_keeps_it_and_changing_it_is_a_transfer() -> None:
    ticket = unowned()
    contact(ticket, "agent-bora")
    reply(ticket, "agent-cem", at=T0 + HOUR)
    contact(ticket, "agent-cem", at=T0 + 2 * HOUR)
    types = [e.event_type for e in ticket.pull_events()]
    assert types.count("TicketAssigned") == 1
    assert ticket.owner_id == "agent-bora"
    with pytest.raises(Conflict, match="transfer"):
        ticket.assign(agent_id="agent-cem", by="lead", now=T0 + 3 * HOUR)


def test_the_first_contact_owner_resolving_alone_is_a_first_contact_resolution() -> None:
    ticket = unowned()
    reply(ticket, "agent-bora", at=T0 + HOUR)
    ticket.resolve(resolution="Done", root_cause=None, by="agent-bora", now=T0 + 2 * HOUR, rules=RULES)
    resolved = ticket.pull_events()[-1]
    assert isinstance(resolved, TicketResolved) and resolved.first_contact_resolution is True


def test_a_lead_pick_is_still_no_first_contact_resolution() -> None:
    ticket = unowned()
    ticket.assign(agent_id="agent-bora", by="lead", now=T0)
    reply(ticket, "agent-bora", at=T0 + HOUR)
    ticket.resolve(resolution="Done", root_cause=None, by="agent-bora", now=T0 + 2 * HOUR, rules=RULES)
    resolved = ticket.pull_events()[-1]
    assert isinstance(resolved, TicketResolved) and resolved.first_contact_resolution is False


def test_a_first_contact_owner_who_transferred_it_is_no_first_contact_resolution() -> None:
    ticket = unowned()
    reply(ticket, "agent-bora")
    ticket.transfer(to_agent_id="agent-cem", reason="wrong_skill", note=None, by=None, now=T0, rules=RULES)
    ticket.resolve(resolution="Done", root_cause=None, by="agent-cem", now=T0 + HOUR, rules=RULES)
    resolved = ticket.pull_events()[-1]
    assert isinstance(resolved, TicketResolved)
    assert (resolved.first_contact_resolution, resolved.transfer_count) == (False, 1)


def test_a_ticket_closed_for_an_unknown_customer_takes_no_owner() -> None:
    ticket = a_ticket(agent_id=None, customer_verified=False)
    assert ticket.close_for_unknown_customer(T0 + timedelta(days=2))
    ticket.pull_events()
    with pytest.raises(Conflict):
        reply(ticket, "agent-bora")
    assert ticket.pull_events() == [] and ticket.owner_id is None


def test_a_provisional_ticket_is_taken_like_any_other() -> None:
    ticket = a_ticket(agent_id=None, customer_verified=False)
    contact(ticket, "agent-bora")
    assert (ticket.owner_id, ticket.customer_verified) == ("agent-bora", False)


def test_rehydrating_a_first_contact_ownership_gives_the_same_state() -> None:
    ticket = Ticket.open(
        ticket_id=new_id(),
        customer_id=new_id(),
        kind="question",
        channel="web",
        subject=None,
        description=None,
        now=T0,
        policy=DEFAULT_POLICY,
    )
    reply(ticket, "agent-bora", visibility="internal")
    reply(ticket, "agent-cem", at=T0 + HOUR)
    history = ticket.pull_events()
    assert [e.event_type for e in history] == ["TicketOpened", "TicketCommented", "TicketCommented", "TicketAssigned"]
    again = Ticket.rehydrate(history)
    state = ("agent-cem", "in_progress", "agent-cem", None, 3600, 4)
    for t in (ticket, again):
        seen = (t.owner_id, t.status, t.first_contact_agent, t.opened_by, t.time_to_first_response_seconds, t.version)
        assert seen == state
