"""SLA back-testing replays recorded histories through the SLA clock with a proposed policy."""

from __future__ import annotations

from datetime import timedelta

from services.ticketing.domain.model import Ticket, TicketRules
from services.ticketing.domain.simulation import simulate
from services.ticketing.domain.sla import DEFAULT_POLICY, DEFAULT_POLICY_MINUTES, SlaPolicy
from shared.events.catalog import DomainEvent
from shared.ids import new_id
from tests.ticketing.builders import T0

HOUR = timedelta(hours=1)


def history_answered_after(delay: timedelta, priority: str = "normal") -> list[DomainEvent]:
    ticket = opened(priority)
    ticket.comment(comment_id=new_id(), author_id="a", body="hi", visibility="public", now=T0 + delay)
    ticket.resolve(resolution="ok", root_cause=None, by="a", now=T0 + delay + HOUR, rules=TicketRules())
    return ticket.pull_events()


def policy_with_normal(first_minutes: int, resolution_minutes: int) -> SlaPolicy:
    table = {tier: dict(rows) for tier, rows in DEFAULT_POLICY_MINUTES.items()}
    table["standard"]["normal"] = (first_minutes, resolution_minutes)
    return SlaPolicy.from_minutes(table)


def test_a_tighter_policy_would_have_breached_what_the_current_one_did_not() -> None:
    histories = [history_answered_after(2 * HOUR), history_answered_after(HOUR / 2)]
    current = simulate(histories, DEFAULT_POLICY, now=T0 + 100 * HOUR)
    tighter = simulate(histories, policy_with_normal(60, 600), now=T0 + 100 * HOUR)
    assert (current.breaches, current.breach_rate) == (0, 0.0)
    assert (tighter.breaches, tighter.escalations, tighter.breached_tickets, tighter.breach_rate) == (1, 1, 1, 0.5)
    [normal] = tighter.by_priority
    assert normal.first_response_breaches == 1
    assert normal.mean_first_response_seconds == (7200 + 1800) / 2


def test_an_unfinished_ticket_is_judged_at_now() -> None:
    ticket = opened(agent_id=None)
    report = simulate([ticket.pull_events()], policy_with_normal(60, 120), now=T0 + 3 * HOUR)
    assert report.breaches == 2


def test_histories_without_an_opening_are_skipped() -> None:
    assert simulate([[]], DEFAULT_POLICY, now=T0).tickets == 0


def opened(priority: str = "normal", tier: str = "standard", agent_id: str | None = "a") -> Ticket:
    ticket = Ticket.open(
        ticket_id=new_id(),
        customer_id=new_id(),
        kind="question",
        channel="email",
        subject=None,
        description=None,
        now=T0,
        policy=DEFAULT_POLICY,
        priority=priority,
        agent_id=agent_id,
        customer_tier=tier,
    )
    return ticket


def test_time_waiting_on_the_customer_does_not_count_in_the_replay() -> None:
    ticket = opened()
    ticket.wait_for_customer(by="a", now=T0 + HOUR / 2)
    ticket.resume(by="a", now=T0 + 10 * HOUR)
    ticket.comment(comment_id=new_id(), author_id="a", body="hi", visibility="public", now=T0 + 10 * HOUR + HOUR / 4)
    ticket.resolve(resolution="ok", root_cause=None, by="a", now=T0 + 11 * HOUR, rules=TicketRules())
    history = ticket.pull_events()
    # 45 minutes of running clock before the reply: inside a 60-minute target, outside a 30-minute one.
    assert simulate([history], policy_with_normal(60, 600), now=T0 + 100 * HOUR).breaches == 0
    assert simulate([history], policy_with_normal(30, 600), now=T0 + 100 * HOUR).breaches == 1


def test_a_reopened_ticket_gets_a_fresh_resolution_target_in_the_replay() -> None:
    ticket = opened()
    ticket.comment(comment_id=new_id(), author_id="a", body="hi", visibility="public", now=T0 + HOUR / 4)
    ticket.resolve(resolution="ok", root_cause=None, by="a", now=T0 + HOUR, rules=TicketRules())
    ticket.reopen(reason=None, by="a", now=T0 + 5 * HOUR, rules=TicketRules())
    ticket.resume(by="a", now=T0 + 5 * HOUR)
    ticket.resolve(resolution="ok", root_cause=None, by="a", now=T0 + 8 * HOUR, rules=TicketRules())
    history = ticket.pull_events()
    # Resolution targets of 2 h: met the first time (1 h), missed after the reopen (3 h); never while resolved.
    report = simulate([history], policy_with_normal(30, 120), now=T0 + 100 * HOUR)
    assert (report.breaches, report.by_priority[0].resolution_breaches) == (1, 1)
    assert simulate([history], policy_with_normal(30, 240), now=T0 + 100 * HOUR).breaches == 0


def test_the_replay_uses_the_proposed_targets_of_the_tickets_tier() -> None:
    key_account, standard = opened(tier="dedicated_assistance"), opened()
    for ticket in (key_account, standard):
        ticket.comment(comment_id=new_id(), author_id="a", body="hi", visibility="public", now=T0 + HOUR)
    table = {tier: dict(rows) for tier, rows in DEFAULT_POLICY_MINUTES.items()}
    table["standard"]["normal"] = (120, 6000)
    table["dedicated_assistance"]["normal"] = (30, 6000)
    report = simulate(
        [key_account.pull_events(), standard.pull_events()], SlaPolicy.from_minutes(table), now=T0 + 2 * HOUR
    )
    assert (report.tickets, report.breaches, report.breached_tickets) == (2, 1, 1)


def test_recorded_breaches_are_reported_beside_the_simulated_ones() -> None:
    ticket = opened(priority="urgent")
    ticket.record_sla_breaches(T0 + 2 * HOUR)
    history = ticket.pull_events()
    loose = {tier: dict(rows) for tier, rows in DEFAULT_POLICY_MINUTES.items()}
    loose["standard"]["urgent"] = (600, 6000)
    report = simulate([history], SlaPolicy.from_minutes(loose), now=T0 + 2 * HOUR)
    assert (report.recorded_breaches, report.breaches) == (1, 0)
