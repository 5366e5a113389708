"""The SLA clock and policies: pure, driven by explicit moments (a fake clock)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.ticketing.domain.sla import (
    DEDICATED_TIER,
    DEFAULT_POLICY,
    SlaClock,
    SlaPolicy,
    SlaTargets,
    tier_for,
)
from shared.testing.clock import FixedClock
from tests.ticketing.builders import T0

HOUR = timedelta(hours=1)


def a_clock() -> SlaClock:
    return SlaClock.start(T0, SlaTargets(first_response=HOUR, resolution=8 * HOUR))


def test_nothing_is_breached_before_the_due_time() -> None:
    clock = FixedClock(T0)
    sla = a_clock()
    clock.advance(HOUR - timedelta(seconds=1))
    assert sla.due_breaches(clock.now()) == []


def test_first_response_breaches_at_its_due_time_with_how_late_it_was_seen() -> None:
    sla = a_clock()
    [breach] = sla.due_breaches(T0 + HOUR + timedelta(seconds=90))
    assert breach.target == "first_response"
    assert breach.due_at == T0 + HOUR
    assert breach.late_by_seconds == 90


def test_a_breach_is_reported_once() -> None:
    sla = a_clock()
    for breach in sla.due_breaches(T0 + 2 * HOUR):
        sla.mark_breached(breach.target)
    assert sla.due_breaches(T0 + 3 * HOUR) == []


def test_a_first_response_in_time_stops_that_clock() -> None:
    sla = a_clock()
    sla.respond(T0 + 30 * timedelta(minutes=1))
    assert sla.due_breaches(T0 + 2 * HOUR) == []
    assert [b.target for b in sla.due_breaches(T0 + 9 * HOUR)] == ["resolution"]


def test_waiting_on_the_customer_pauses_and_moves_due_times() -> None:
    sla = a_clock()
    sla.pause(T0 + 10 * timedelta(minutes=1))
    assert sla.due_breaches(T0 + 5 * HOUR) == [], "no breach while paused"
    moved = sla.resume(T0 + 3 * HOUR + 10 * timedelta(minutes=1))
    assert moved == 3 * HOUR
    assert sla.first_response_due == T0 + 4 * HOUR
    assert sla.resolution_due == T0 + 11 * HOUR
    assert sla.due_breaches(T0 + 4 * HOUR - timedelta(seconds=1)) == []


def test_next_due_is_the_earliest_unmet_target_and_none_while_paused() -> None:
    sla = a_clock()
    assert sla.next_due() == T0 + HOUR
    sla.respond(T0 + timedelta(minutes=5))
    assert sla.next_due() == T0 + 8 * HOUR
    sla.pause(T0 + HOUR)
    assert sla.next_due() is None


def test_dedicated_assistance_customers_get_tighter_targets() -> None:
    standard = DEFAULT_POLICY.targets_for("high")
    dedicated = DEFAULT_POLICY.targets_for("high", tier_for("dedicated_assistance"))
    assert tier_for("dedicated_assistance") == DEDICATED_TIER
    assert dedicated.first_response < standard.first_response
    assert dedicated.resolution < standard.resolution


def test_an_unknown_tier_falls_back_to_standard_targets() -> None:
    assert DEFAULT_POLICY.targets_for("low", "community") == DEFAULT_POLICY.targets_for("low")


def test_a_policy_must_cover_every_priority_of_the_standard_tier() -> None:
    with pytest.raises(ValueError, match="missing"):
        SlaPolicy.from_minutes({"standard": {"low": (10, 20)}})


def test_a_first_response_target_longer_than_resolution_is_refused() -> None:
    with pytest.raises(ValueError):
        SlaTargets(first_response=2 * HOUR, resolution=HOUR)
