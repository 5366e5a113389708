"""The marketing policy as data: one event-sourced aggregate, its rules, and what the engine decides with.

The policy (frequency caps per channel and window, quiet hours, holiday send blackouts,
service-recovery holds, per-campaign overrides) used to be environment variables read at start-up.
Now the deployment's settings are only version 0, the defaults; every change through the API is a
``MarketingPolicyChanged`` event on the ``marketing-policy`` stream, and the running engines pick the
current version for their next decision (``application.policy.PolicySource``).

Validation is here, pure, so the API and any other caller refuse the same things (422, nothing
changed): a negative cap, an empty window, quiet hours that leave no time to send, a run of blackout
days so long that a deferral could not end, duplicates, and a campaign override looser than the
global rules. "Looser" is judged on what the rules let through, not on their wording: a global cap of
M messages in W days lets at most ``M * ceil(w / W)`` through in any w days, so an override cap on the
same channel (or a global cap on every channel) allowing more than that promises sends that can never
happen; override quiet hours must cover the global quiet hours. The engine applies the global caps
and the override's caps together, so an override can only make a campaign stricter.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Final

from services.campaigns.domain.decision import CampaignLimits, MarketingPolicy, SendCap
from shared.contracts.campaigns import (
    POLICY_SUBJECT,
    CampaignPolicyOverride,
    FrequencyCap,
    MarketingPolicyChanged,
    MarketingPolicyRules,
    QuietHours,
    SendBlackout,
)
from shared.errors import InvalidInput
from shared.store.aggregate import Aggregate

POLICY_STREAM: Final = POLICY_SUBJECT
"""The one stream of the marketing policy."""

MAX_CAPS: Final = 20
MAX_MESSAGES: Final = 1000
MAX_WINDOW_DAYS: Final = 366
MAX_BLACKOUTS: Final = 1000
MAX_BLACKOUT_RUN: Final = 31
"""The longest run of consecutive blackout days: a deferral must end within a month."""
MAX_OVERRIDES: Final = 500
MAX_HOLD_DAYS: Final = 3660
MIN_SEND_MINUTES: Final = 60
"""Quiet hours must leave at least an hour a day to send in."""


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


def quiet_minutes(quiet: QuietHours) -> int:
    """How many minutes of the day the quiet hours take (spanning midnight when start > end)."""
    start, end = _minutes(quiet.start), _minutes(quiet.end)
    return (end - start) % (24 * 60)


def _quiet_minute_set(quiet: QuietHours) -> set[int]:
    start = _minutes(quiet.start)
    return {(start + m) % (24 * 60) for m in range(quiet_minutes(quiet))}


def check_quiet_hours(quiet: QuietHours | None, field: str) -> None:
    """Refuse quiet hours that are ambiguous (start = end) or leave less than an hour to send in."""
    if quiet is None:
        return
    if quiet.start.second or quiet.start.microsecond or quiet.end.second or quiet.end.microsecond:
        raise InvalidInput("quiet hours are whole minutes (HH:MM)", field=field)
    if quiet.start == quiet.end:
        raise InvalidInput(
            f"quiet hours from {quiet.start:%H:%M} to {quiet.end:%H:%M} are empty or the whole day; "
            "send null for no quiet hours", field=field)
    if 24 * 60 - quiet_minutes(quiet) < MIN_SEND_MINUTES:
        raise InvalidInput(
            f"quiet hours from {quiet.start:%H:%M} to {quiet.end:%H:%M} leave less than "
            f"{MIN_SEND_MINUTES} minutes a day to send in", field=field)


def _check_caps(caps: Sequence[FrequencyCap], field: str) -> None:
    if len(caps) > MAX_CAPS:
        raise InvalidInput(f"at most {MAX_CAPS} caps", field=field)
    seen: set[tuple[str | None, int]] = set()
    for i, cap in enumerate(caps):
        where = f"{field}[{i}]"
        if cap.max_messages < 0:
            raise InvalidInput("a cap is never negative (0 allows no message)", field=f"{where}.max_messages")
        if cap.max_messages > MAX_MESSAGES:
            raise InvalidInput(f"a cap is at most {MAX_MESSAGES} messages", field=f"{where}.max_messages")
        if cap.window_days < 1:
            raise InvalidInput("a cap's window is at least one day", field=f"{where}.window_days")
        if cap.window_days > MAX_WINDOW_DAYS:
            raise InvalidInput(f"a cap's window is at most {MAX_WINDOW_DAYS} days", field=f"{where}.window_days")
        key = (cap.channel, cap.window_days)
        if key in seen:
            what = cap.channel or "every channel"
            raise InvalidInput(f"two caps for {what} over {cap.window_days} days", field=where)
        seen.add(key)


def _check_blackouts(blackouts: Sequence[SendBlackout]) -> None:
    if len(blackouts) > MAX_BLACKOUTS:
        raise InvalidInput(f"at most {MAX_BLACKOUTS} blackout days", field="blackouts")
    days = sorted(b.day for b in blackouts)
    for earlier, later in itertools.pairwise(days):
        if earlier == later:
            raise InvalidInput(f"{later.isoformat()} is listed twice", field="blackouts")
    run, longest_end = 1, None
    for earlier, later in itertools.pairwise(days):
        run = run + 1 if later - earlier == timedelta(days=1) else 1
        if run > MAX_BLACKOUT_RUN:
            longest_end = later
            break
    if longest_end is not None:
        raise InvalidInput(f"more than {MAX_BLACKOUT_RUN} blackout days in a row (up to {longest_end.isoformat()}) "
                           "leave no time to send", field="blackouts")


def allowed_by(global_cap: FrequencyCap, channel: str | None, window_days: int) -> int | None:
    """The most messages ``global_cap`` ever lets through on ``channel`` in any ``window_days`` days;
    None when it does not count that channel (a per-channel cap says nothing about every channel)."""
    if global_cap.channel is not None and global_cap.channel != channel:
        return None
    return global_cap.max_messages * math.ceil(window_days / global_cap.window_days)


def _check_override(rules: MarketingPolicyRules, override: CampaignPolicyOverride, where: str) -> None:
    _check_caps(override.caps, f"{where}.caps")
    for i, cap in enumerate(override.caps):
        for global_cap in rules.caps:
            bound = allowed_by(global_cap, cap.channel, cap.window_days)
            if bound is not None and cap.max_messages > bound:
                scope = f"{global_cap.channel} messages" if global_cap.channel else "messages"
                raise InvalidInput(
                    f"looser than the global policy: {cap.max_messages} in {cap.window_days} days, where the global "
                    f"{global_cap.max_messages} {scope} in {global_cap.window_days} days allow at most {bound}",
                    field=f"{where}.caps[{i}].max_messages")
    if override.quiet_hours is not None:
        check_quiet_hours(override.quiet_hours, f"{where}.quiet_hours")
        if rules.quiet_hours is not None and not _quiet_minute_set(rules.quiet_hours) <= _quiet_minute_set(
                override.quiet_hours):
            raise InvalidInput(
                f"looser than the global policy: quiet hours {override.quiet_hours.start:%H:%M}-"
                f"{override.quiet_hours.end:%H:%M} do not cover the global {rules.quiet_hours.start:%H:%M}-"
                f"{rules.quiet_hours.end:%H:%M}", field=f"{where}.quiet_hours")


def check_policy(rules: MarketingPolicyRules) -> None:
    """Refuse a policy that cannot be meant (422 naming the field at fault); see the module docstring."""
    _check_caps(rules.caps, "caps")
    check_quiet_hours(rules.quiet_hours, "quiet_hours")
    _check_blackouts(rules.blackouts)
    for name in ("sla_breach_hold_days", "detractor_hold_days"):
        days = getattr(rules, name)
        if not 0 <= days <= MAX_HOLD_DAYS:
            raise InvalidInput(f"between 0 and {MAX_HOLD_DAYS} days", field=name)
    if len(rules.overrides) > MAX_OVERRIDES:
        raise InvalidInput(f"at most {MAX_OVERRIDES} campaign overrides", field="overrides")
    seen: set[str] = set()
    for i, override in enumerate(rules.overrides):
        if override.campaign_id in seen:
            raise InvalidInput(f"campaign {override.campaign_id} has two overrides", field=f"overrides[{i}]")
        seen.add(override.campaign_id)
        _check_override(rules, override, f"overrides[{i}]")


def changed_fields(before: MarketingPolicyRules, after: MarketingPolicyRules) -> list[str]:
    """The top-level fields that differ (the "what" of a change)."""
    return [name for name in MarketingPolicyRules.model_fields if getattr(before, name) != getattr(after, name)]


def merge_blackouts(current: Sequence[SendBlackout], added: Iterable[SendBlackout]) -> list[SendBlackout]:
    """``current`` plus the days of ``added`` it does not have yet, in date order (an import adds, never removes)."""
    by_day = {b.day: b for b in current}
    for blackout in added:
        by_day.setdefault(blackout.day, blackout)
    return [by_day[d] for d in sorted(by_day)]


class MarketingPolicyAggregate(Aggregate):
    """The marketing policy; the deployment's defaults hold until the first change."""

    rules: MarketingPolicyRules
    changed_by: str | None
    changed_at: datetime | None

    def _initial_state(self) -> None:
        self.rules = MarketingPolicyRules()
        self.changed_by = None
        self.changed_at = None

    @classmethod
    def load(
        cls, defaults: MarketingPolicyRules, history: Iterable[MarketingPolicyChanged]
    ) -> MarketingPolicyAggregate:
        """Rebuild from the stream; with no history yet, the deployment's defaults at version 0."""
        policy = cls.rehydrate(history)
        if policy.version == 0:
            policy.rules = defaults
        return policy

    def replace(self, rules: MarketingPolicyRules, *, by: str | None, now: datetime) -> None:
        """Replace the whole policy (validated first); the same policy again records nothing."""
        check_policy(rules)
        changed = changed_fields(self.rules, rules)
        if changed:
            self._record(MarketingPolicyChanged(policy=rules, changed=changed, changed_by=by, changed_at=now))

    def add_blackouts(self, blackouts: Iterable[SendBlackout], *, by: str | None, now: datetime) -> None:
        """Add holidays (an ``.ics`` import) to the blackout days; days already there are kept as they are."""
        merged = merge_blackouts(self.rules.blackouts, blackouts)
        self.replace(self.rules.model_copy(update={"blackouts": merged}), by=by, now=now)

    def _on_MarketingPolicyChanged(self, e: MarketingPolicyChanged) -> None:  # noqa: N802
        self.rules = e.policy
        self.changed_by = e.changed_by
        self.changed_at = e.changed_at


def _send_cap(cap: FrequencyCap) -> SendCap:
    return SendCap(max_messages=cap.max_messages, window=timedelta(days=cap.window_days), channel=cap.channel)


def decision_policy(rules: MarketingPolicyRules, version: int, *, default_timezone: str = "UTC") -> MarketingPolicy:
    """What the engine decides with, from the policy document at ``version``.

    The first cap on every channel becomes the primary cap (``frequency_cap``: counted by the engine
    in its own column, as before the policy was data); every other cap is counted over recent sends.
    """
    primary = next((c for c in rules.caps if c.channel is None), None)
    quiet = rules.quiet_hours
    start, end = (quiet.start, quiet.end) if quiet is not None else (time(0), time(0))
    return MarketingPolicy(
        frequency_cap=primary.max_messages if primary else None,
        frequency_window=timedelta(days=primary.window_days if primary else 7),
        complaint_hold=rules.complaint_hold,
        sla_breach_hold=timedelta(days=rules.sla_breach_hold_days),
        detractor_hold=timedelta(days=rules.detractor_hold_days),
        quiet_hours_start=start,
        quiet_hours_end=end,
        default_timezone=default_timezone,
        caps=tuple(_send_cap(c) for c in rules.caps if c is not primary),
        blackouts=frozenset(b.day for b in rules.blackouts),
        overrides={o.campaign_id: CampaignLimits(
            caps=tuple(_send_cap(c) for c in o.caps),
            quiet_hours=(o.quiet_hours.start, o.quiet_hours.end) if o.quiet_hours else None,
        ) for o in rules.overrides},
        version=version,
    )


def blackout_days(days: Iterable[tuple[date, str | None]]) -> list[SendBlackout]:
    """Blackouts from (day, name) pairs, e.g. the holidays of an ``.ics`` file."""
    return [SendBlackout(day=day, name=name) for day, name in days]
