"""The marketing policy's use cases: read it, replace it, import holidays into it, and serve it to the engines.

Writes go through the unit of work: the ``MarketingPolicyChanged`` event (event store → outbox →
``campaigns.events``) and the ``marketing_policy`` row the engines read (``ReadModel.save_policy``)
commit together; the commands answer ``Updated`` with the policy and its version (the ETag).

The engines (the Kafka worker and the timers) do not restart to see a change: ``PolicySource`` asks
for the current version in each decision's own transaction (one primary-key lookup of one row per
batch and campaign) and rebuilds the rules only when the version moved, so every decision taken after
a change commits uses it. Each decision records the version it used (``decisions.policy_version`` and
the decision events' ``policy_version``), so which rules applied is never a guess.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from services.campaigns.application.ports import ReadModel
from services.campaigns.domain.decision import MarketingPolicy
from services.campaigns.domain.policy import POLICY_STREAM, MarketingPolicyAggregate, decision_policy
from shared.contracts.campaigns import POLICY_SUBJECT, MarketingPolicyChanged, MarketingPolicyRules, SendBlackout
from shared.errors import InvalidInput
from shared.store.eventstore import EventStore, RecordedEvent
from shared.store.outcomes import Updated
from shared.store.ports import Work
from shared.store.versions import ensure_version_matches


class PolicySource:
    """The current marketing policy for the engines: the version checked per call, the rules cached.

    Why not a time-to-live: with one indexed single-row lookup per decision batch the check costs
    less than any other statement of a decision, and "the next decision after the change uses it" is
    a promise a TTL cannot make. The rules travel only when the version moved (it only grows).
    """

    def __init__(self, defaults: MarketingPolicy) -> None:
        self._defaults = defaults
        self._policy = defaults

    async def current(self, conn: asyncpg.Connection) -> MarketingPolicy:
        """The policy to decide with now, in the caller's transaction."""
        row = await conn.fetchrow(
            """select version, case when version <> $1 then rules end as rules
               from marketing_policy where id = 'current'""", self._policy.version)
        if row is None:
            self._policy = self._defaults
        elif row["rules"] is not None:
            self._policy = decision_policy(MarketingPolicyRules.model_validate(row["rules"]), row["version"],
                                           default_timezone=self._defaults.default_timezone)
        return self._policy


async def load_policy(conn: asyncpg.Connection, store: EventStore, defaults: MarketingPolicyRules
                      ) -> MarketingPolicyAggregate:
    """The policy from its stream (the deployment's defaults at version 0 before any change)."""
    return policy_from(defaults, await store.load(conn, POLICY_STREAM))


def policy_from(defaults: MarketingPolicyRules, history: Iterable[RecordedEvent]) -> MarketingPolicyAggregate:
    """The policy its stream's events make of the defaults."""
    return MarketingPolicyAggregate.load(defaults, [r.event for r in history
                                                    if isinstance(r.event, MarketingPolicyChanged)])


def policy_body(policy: MarketingPolicyAggregate) -> dict[str, Any]:
    """The policy as the API shows it: the document, its version (the ETag) and who changed it last."""
    return {**policy.rules.model_dump(mode="json"), "version": policy.version,
            "changed_by": policy.changed_by,
            "changed_at": policy.changed_at.isoformat().replace("+00:00", "Z") if policy.changed_at else None}


async def _known_campaigns(uow: Work[ReadModel], rules: MarketingPolicyRules) -> None:
    ids: list[uuid.UUID] = []
    for i, override in enumerate(rules.overrides):
        try:
            ids.append(uuid.UUID(override.campaign_id))
        except ValueError:
            raise InvalidInput("not a campaign id", field=f"overrides[{i}].campaign_id") from None
    if not ids:
        return
    known = await uow.rows.existing_campaigns(ids)
    for i, campaign_id in enumerate(ids):
        if campaign_id not in known:
            raise InvalidInput(f"campaign {campaign_id} does not exist", field=f"overrides[{i}].campaign_id")


async def _save(uow: Work[ReadModel], policy: MarketingPolicyAggregate) -> Updated:
    if policy.pending:
        await uow.append(stream_id=POLICY_STREAM, stream_type="marketing-policy",
                         expected_version=policy.expected_version, events=policy.pull_events(),
                         subject=POLICY_SUBJECT)
        await uow.rows.save_policy(policy.version, policy.rules, policy.changed_by, policy.changed_at)
    return Updated(policy_body(policy), policy.version)


async def replace_policy(
    uow: Work[ReadModel], *, defaults: MarketingPolicyRules, rules: MarketingPolicyRules, by: str | None,
    now: datetime, expected_version: int | None,
) -> Updated:
    """Replace the whole marketing policy (``If-Match`` checked first; the same policy records nothing)."""
    policy = policy_from(defaults, await uow.load(POLICY_STREAM))
    ensure_version_matches(expected_version, policy.version)
    policy.replace(rules, by=by, now=now)
    await _known_campaigns(uow, rules)
    return await _save(uow, policy)


async def import_blackouts(
    uow: Work[ReadModel], *, defaults: MarketingPolicyRules, blackouts: Iterable[SendBlackout], by: str | None,
    now: datetime, expected_version: int | None,
) -> Updated:
    """Add holidays (from an ``.ics`` file) to the blackout days; days already listed stay as they are."""
    policy = policy_from(defaults, await uow.load(POLICY_STREAM))
    ensure_version_matches(expected_version, policy.version)
    policy.add_blackouts(blackouts, by=by, now=now)
    return await _save(uow, policy)
