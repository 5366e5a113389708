"""The marketing policy as data: its validation, its history, and how decisions use it (pure; no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from services.campaigns.config import CampaignsSettings
from services.campaigns.domain.decision import Counters, MarketingPolicy, Outcome, decide, next_send_window
from services.campaigns.domain.policy import (
    MarketingPolicyAggregate,
    allowed_by,
    check_policy,
    decision_policy,
    merge_blackouts,
)
from shared.contracts.campaigns import (
    CampaignPolicyOverride,
    Channel,
    FrequencyCap,
    MarketingPolicyRules,
    QuietHours,
    SendBlackout,
    SuppressionReason,
)
from shared.errors import InvalidInput

from .builders import NOON, a_campaign, a_customer, an_order_event

CAMPAIGN = "c-1"


def a_policy(**overrides: Any) -> MarketingPolicyRules:
    values: dict[str, Any] = {
        "caps": [FrequencyCap(channel=None, max_messages=3, window_days=7),
                 FrequencyCap(channel=Channel.SMS, max_messages=1, window_days=1)],
        "quiet_hours": QuietHours(start=time(21), end=time(8)),
    }
    values.update(overrides)
    return MarketingPolicyRules(**values)


def refused(rules: MarketingPolicyRules) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check_policy(rules)
    return caught.value


def decide_with(rules: MarketingPolicyRules, *, counters: Counters | None = None, now: datetime = NOON,
                **customer: Any) -> Any:
    return decide(campaign_id=CAMPAIGN, campaign=a_campaign(), customer=a_customer(**customer),
                  event=an_order_event(), counters=counters or Counters(), policy=decision_policy(rules, 4), now=now,
                  event_fields=frozenset({"total", "offer_code"}))


# --- defaults: the environment settings are version 0 -------------------------------------------


def test_the_environment_settings_are_the_initial_policy_and_decide_as_before() -> None:
    settings = CampaignsSettings()
    rules = settings.policy_rules()
    assert rules.caps == [FrequencyCap(channel=None, max_messages=3, window_days=7)]
    assert rules.quiet_hours == QuietHours(start=time(21), end=time(8))
    assert settings.policy() == MarketingPolicy()
    check_policy(rules)


def test_no_history_means_the_defaults_at_version_0() -> None:
    defaults = a_policy()
    policy = MarketingPolicyAggregate.load(defaults, [])
    assert (policy.version, policy.rules) == (0, defaults)


# --- validation: 422 and nothing changed ---------------------------------------------------------


def test_a_negative_cap_is_refused() -> None:
    problem = refused(a_policy(caps=[FrequencyCap(max_messages=-1, window_days=7)]))
    assert problem.extra["field"] == "caps[0].max_messages"


def test_an_empty_window_is_refused() -> None:
    assert refused(a_policy(caps=[FrequencyCap(max_messages=3, window_days=0)])).extra["field"] == "caps[0].window_days"


def test_two_caps_for_the_same_channel_and_window_are_refused() -> None:
    cap = FrequencyCap(channel=Channel.SMS, max_messages=1, window_days=1)
    assert refused(a_policy(caps=[cap, cap.model_copy(update={"max_messages": 2})])).extra["field"] == "caps[1]"


@pytest.mark.parametrize(("start", "end"), [(time(21), time(21)), (time(8, 30), time(8)), (time(0), time(23, 30))])
def test_quiet_hours_that_leave_no_time_to_send_are_refused(start: time, end: time) -> None:
    assert refused(a_policy(quiet_hours=QuietHours(start=start, end=end))).extra["field"] == "quiet_hours"


def test_quiet_hours_leaving_an_hour_are_accepted() -> None:
    check_policy(a_policy(quiet_hours=QuietHours(start=time(9), end=time(8))))


def test_a_blackout_listed_twice_or_too_many_days_in_a_row_is_refused() -> None:
    day = SendBlackout(day=date(2026, 12, 31))
    assert refused(a_policy(blackouts=[day, day])).extra["field"] == "blackouts"
    month = [SendBlackout(day=date(2026, 1, 1) + timedelta(days=i)) for i in range(32)]
    assert "in a row" in str(refused(a_policy(blackouts=month)))
    check_policy(a_policy(blackouts=month[:31]))


def test_an_override_may_be_stricter() -> None:
    check_policy(a_policy(overrides=[CampaignPolicyOverride(
        campaign_id=CAMPAIGN, caps=[FrequencyCap(max_messages=1, window_days=7),
                                    FrequencyCap(channel=Channel.SMS, max_messages=1, window_days=30)],
        quiet_hours=QuietHours(start=time(20), end=time(9)))]))


@pytest.mark.parametrize("cap", [
    FrequencyCap(max_messages=4, window_days=7),  # global: 3 in 7 days
    FrequencyCap(max_messages=7, window_days=14),  # 3 in 7 days lets at most 6 through in 14
    FrequencyCap(channel=Channel.EMAIL, max_messages=4, window_days=3),  # every channel's cap bounds email
    FrequencyCap(channel=Channel.SMS, max_messages=2, window_days=1),  # global: 1 SMS a day
])
def test_an_override_cap_looser_than_the_global_caps_is_refused(cap: FrequencyCap) -> None:
    problem = refused(a_policy(overrides=[CampaignPolicyOverride(campaign_id=CAMPAIGN, caps=[cap])]))
    assert problem.extra["field"] == "overrides[0].caps[0].max_messages"
    assert "looser" in str(problem)


def test_override_quiet_hours_must_cover_the_global_ones() -> None:
    shorter = CampaignPolicyOverride(campaign_id=CAMPAIGN, quiet_hours=QuietHours(start=time(22), end=time(8)))
    assert refused(a_policy(overrides=[shorter])).extra["field"] == "overrides[0].quiet_hours"


def test_two_overrides_of_one_campaign_are_refused() -> None:
    override = CampaignPolicyOverride(campaign_id=CAMPAIGN)
    assert refused(a_policy(overrides=[override, override])).extra["field"] == "overrides[1]"


def test_what_a_global_cap_lets_through_over_another_window() -> None:
    weekly = FrequencyCap(max_messages=3, window_days=7)
    assert allowed_by(weekly, None, 7) == 3
    assert allowed_by(weekly, Channel.SMS, 8) == 6
    assert allowed_by(FrequencyCap(channel=Channel.SMS, max_messages=1, window_days=1), None, 7) is None


# --- history: every change is an event (who, when, what) ------------------------------------------


def test_a_change_records_who_when_and_what() -> None:
    policy = MarketingPolicyAggregate.load(a_policy(), [])
    wanted = a_policy(quiet_hours=QuietHours(start=time(22), end=time(7)))
    policy.replace(wanted, by="ops-lead", now=NOON)
    (event,) = policy.pull_events()
    assert (event.changed_by, event.changed_at, event.changed, event.policy) == ("ops-lead", NOON, ["quiet_hours"],
                                                                                   wanted)
    assert policy.version == 1
    replayed = MarketingPolicyAggregate.load(a_policy(), [event])
    assert (replayed.version, replayed.rules, replayed.changed_by) == (1, wanted, "ops-lead")


def test_the_same_policy_again_records_nothing_and_a_refused_one_changes_nothing() -> None:
    policy = MarketingPolicyAggregate.load(a_policy(), [])
    policy.replace(a_policy(), by="ops", now=NOON)
    assert policy.pending == []
    with pytest.raises(InvalidInput):
        policy.replace(a_policy(caps=[FrequencyCap(max_messages=-3, window_days=7)]), by="ops", now=NOON)
    assert (policy.pending, policy.rules) == ([], a_policy())


def test_imported_holidays_are_added_and_known_days_keep_their_name() -> None:
    current = [SendBlackout(day=date(2026, 12, 31), name="Ours")]
    added = [SendBlackout(day=date(2026, 12, 31), name="Theirs"), SendBlackout(day=date(2026, 1, 1), name="New Year")]
    assert merge_blackouts(current, added) == [SendBlackout(day=date(2026, 1, 1), name="New Year"), current[0]]


# --- decisions ------------------------------------------------------------------------------------


def sends(*moments: tuple[Channel, datetime]) -> Counters:
    return Counters(recent_sends=tuple(moments), marketing_sent_in_window=len(moments))


def test_a_channel_at_its_cap_falls_to_the_next_consented_channel() -> None:
    campaign_sms_first = a_campaign(action={"kind": "offer", "channels": ["sms", "email"], "template": "t",
                                            "offer": {"sku": "DEPOSIT-12M", "discount_pct": 10}})
    decision = decide(campaign_id=CAMPAIGN, campaign=campaign_sms_first, customer=a_customer(),
                      event=an_order_event(), counters=sends((Channel.SMS, NOON - timedelta(hours=3))),
                      policy=decision_policy(a_policy(), 4), now=NOON, event_fields=frozenset({"total"}))
    assert (decision.outcome, decision.channel) == (Outcome.SENT, Channel.EMAIL)


def test_every_consented_channel_at_its_cap_is_a_frequency_cap() -> None:
    decision = decide_with(a_policy(), counters=sends((Channel.SMS, NOON - timedelta(hours=3))),
                           consents=frozenset({Channel.SMS}))
    assert decision.reason is SuppressionReason.FREQUENCY_CAP
    assert decision.detail == "1 sms messages in 1 days reached"


def test_a_send_outside_the_window_does_not_count() -> None:
    decision = decide_with(a_policy(), counters=sends((Channel.SMS, NOON - timedelta(days=1, minutes=1))),
                           consents=frozenset({Channel.SMS}))
    assert (decision.outcome, decision.channel) == (Outcome.SENT, Channel.SMS)


def test_a_longer_overall_cap_counts_every_channel() -> None:
    rules = a_policy(caps=[FrequencyCap(max_messages=3, window_days=7), FrequencyCap(max_messages=4, window_days=30)])
    old = [(Channel.EMAIL, NOON - timedelta(days=d)) for d in (10, 12, 14, 20)]
    decision = decide_with(rules, counters=Counters(recent_sends=tuple(old)))
    assert (decision.reason, decision.detail) == (SuppressionReason.FREQUENCY_CAP, "4 messages in 30 days reached")


def test_a_campaign_override_adds_its_caps() -> None:
    override = CampaignPolicyOverride(campaign_id=CAMPAIGN, caps=[FrequencyCap(max_messages=1, window_days=7)])
    counters = sends((Channel.EMAIL, NOON - timedelta(days=2)))
    assert decide_with(a_policy(), counters=counters).outcome is Outcome.SENT
    decision = decide_with(a_policy(overrides=[override]), counters=counters)
    assert (decision.reason, decision.detail) == (SuppressionReason.FREQUENCY_CAP, "1 messages in 7 days reached")


def test_a_campaign_override_widens_its_quiet_hours() -> None:
    evening = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)
    assert decide_with(a_policy(), now=evening).outcome is Outcome.SENT
    override = CampaignPolicyOverride(campaign_id=CAMPAIGN, quiet_hours=QuietHours(start=time(19), end=time(9)))
    decision = decide_with(a_policy(overrides=[override]), now=evening)
    assert decision.deferred_until == datetime(2026, 3, 11, 9, 0, tzinfo=UTC)


def test_a_blackout_day_defers_to_the_next_morning_after_quiet_hours() -> None:
    new_years_eve = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
    rules = a_policy(blackouts=[SendBlackout(day=date(2026, 12, 31), name="New Year's Eve"),
                                SendBlackout(day=date(2027, 1, 1), name="New Year")])
    decision = decide_with(rules, now=new_years_eve)
    assert decision.reason is SuppressionReason.QUIET_HOURS_DEFERRED
    assert decision.detail == "send blackout on 2026-12-31"
    assert decision.deferred_until == datetime(2027, 1, 2, 8, 0, tzinfo=UTC)


def test_a_blackout_is_a_day_in_the_customer_time_zone() -> None:
    rules = a_policy(blackouts=[SendBlackout(day=date(2026, 3, 11))])
    evening_utc = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)  # already 11 March in Tokyo (07:30)
    assert next_send_window(evening_utc, "Asia/Tokyo", decision_policy(rules, 1)) == (
        datetime(2026, 3, 11, 23, 0, tzinfo=UTC), "send blackout on 2026-03-11")  # 12 March 08:00 in Tokyo


def test_no_quiet_hours_and_no_blackout_sends_at_any_hour() -> None:
    night = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
    assert decide_with(a_policy(quiet_hours=None), now=night).outcome is Outcome.SENT


def test_the_decision_policy_carries_its_version() -> None:
    assert decision_policy(a_policy(), 12).version == 12
