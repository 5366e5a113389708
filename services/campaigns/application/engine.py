"""The engine: consumed events → replica, redemptions, conversions, and one decision per trigger.

Runs inside the consumer kit's transaction (``apply(conn, events)``), so the replica update, the
decision row, its events (event store → outbox → ``campaigns.events``) and the message request
(outbox → ``campaigns.messages``) commit together or not at all.

Exactly once per (campaign, customer, triggering event): the ``decisions`` primary key, checked
after taking the campaign's budget row lock. The lock serialises decisions of one campaign, which
is what makes budget and per-campaign caps hold with several consumers; decisions of different
campaigns never wait for each other.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from services.campaigns.adapters import replica
from services.campaigns.domain.decision import (
    Counters,
    Decision,
    MarketingPolicy,
    Outcome,
    TriggeringEvent,
    decide,
    offer_code_for,
)
from services.campaigns.domain.definition import parse_definition
from services.campaigns.domain.model import CampaignDefinition, Schedule
from services.campaigns.domain.surveys import SURVEY_VALIDITY, IssuedOffer, judge_redemption
from shared.catalog import DomainEvent
from shared.contracts.campaigns import (
    ActionKind,
    CampaignBudgetExhausted,
    Channel,
    HeldOut,
    InvalidRedemption,
    MessageRequested,
    MessageSent,
    MessageSuppressed,
    OfferRedeemed,
    OfferSent,
    SurveyKind,
    SurveySent,
)
from shared.envelope import new_envelope
from shared.eventstore import EventStore, Outbox

from .triggers import trigger_event_fields

_NAMESPACE = uuid.UUID("6d1a7c1e-3b0f-4f51-9a57-4c0a2b0c3600")


@dataclass(frozen=True, slots=True)
class Engine:
    """What the engine writes to: the event store, the outbox and the messages topic, with the policy."""

    store: EventStore
    messages_topic: str
    policy: MarketingPolicy = field(default_factory=MarketingPolicy)
    attribution_window: timedelta = timedelta(days=30)
    outbox: Outbox = field(default_factory=Outbox)


@dataclass(frozen=True, slots=True)
class ActiveCampaign:
    campaign_id: str
    definition: CampaignDefinition


async def active_campaigns_for(conn: asyncpg.Connection, event_type: str) -> list[ActiveCampaign]:
    """Active campaigns whose trigger is this event type (partial index on active triggers)."""
    rows = await conn.fetch(
        "select id, definition from campaigns where status = 'active' and trigger_event_type = $1", event_type
    )
    return [ActiveCampaign(str(r["id"]), parse_definition(r["definition"])[1]) for r in rows]


async def load_active_campaign(conn: asyncpg.Connection, campaign_id: str) -> ActiveCampaign | None:
    row = await conn.fetchrow("select definition from campaigns where id = $1 and status = 'active'",
                              uuid.UUID(campaign_id))
    return ActiveCampaign(campaign_id, parse_definition(row["definition"])[1]) if row else None


async def handle_event(
    engine: Engine,
    conn: asyncpg.Connection,
    *,
    event_id: str,
    event: DomainEvent,
    subject: str,
    at: datetime,
    now: datetime,
) -> None:
    """Everything one consumed event causes, in the caller's transaction."""
    data = event.model_dump()
    customer_id = str(data.get("customer_id") or subject)
    await replica.apply_to_replica(conn, event.event_type, customer_id, data, at)
    if event.event_type == "OrderPlaced":
        await _attribute_order(engine, conn, customer_id, data, at)
    trigger = TriggeringEvent(event_id, event.event_type, data)
    fields = trigger_event_fields().get(event.event_type, frozenset())
    for campaign in await active_campaigns_for(conn, event.event_type):
        if campaign.definition.trigger.delay is not None:
            # Condition and audience are judged now, on the facts of the event; the rest when due.
            probe = decide(campaign_id=campaign.campaign_id, campaign=campaign.definition,
                           customer=await replica.load_snapshot(conn, customer_id), event=trigger,
                           counters=Counters(), policy=engine.policy, now=now, event_fields=fields)
            if probe.outcome is not Outcome.NOT_TRIGGERED:
                await schedule_timer(conn, kind="campaign_trigger", due_at=at + campaign.definition.trigger.delay,
                                     key=f"{campaign.campaign_id}:{customer_id}:{event_id}",
                                     payload={"campaign_id": campaign.campaign_id, "customer_id": customer_id,
                                              "event_id": event_id, "event_type": event.event_type})
            continue
        await decide_and_record(engine, conn, campaign=campaign, customer_id=customer_id, trigger=trigger, now=now)


async def decide_and_record(
    engine: Engine,
    conn: asyncpg.Connection,
    *,
    campaign: ActiveCampaign,
    customer_id: str,
    trigger: TriggeringEvent,
    now: datetime,
    check_condition: bool = True,
) -> Decision | None:
    """Decide once for (campaign, customer, trigger) and record the decision with its effects."""
    cid = uuid.UUID(campaign.campaign_id)
    budget_row = await conn.fetchrow(
        "select total, spent, exhausted_at from campaign_budgets where campaign_id = $1 for update", cid
    )
    existing = await conn.fetchval(
        "select outcome from decisions where campaign_id = $1 and customer_id = $2 and triggering_event_id = $3",
        cid, customer_id, trigger.event_id,
    )
    if existing is not None and existing != "deferred":
        return None  # already decided: a redelivery, a replay or a second timer instance
    definition = campaign.definition
    counts = await conn.fetchrow(
        """select
             (select count(*) from decisions where campaign_id = $1 and customer_id = $2
                 and outcome in ('sent', 'held_out')) as reached,
             (select count(*) from decisions where customer_id = $2 and outcome = 'sent' and promotional
                 and decided_at > $3) as recent,
             (select coalesce(array_agg(distinct product_key), '{}') from offers where customer_id = $2
                 and redeemed_at is null and valid_until > $4) as live""",
        cid, customer_id, now - engine.policy.frequency_window, now,
    )
    counters = Counters(
        reached_by_campaign=counts["reached"],
        marketing_sent_in_window=counts["recent"],
        live_offer_products=frozenset(counts["live"]),
        budget_spent=budget_row["spent"] if budget_row else Decimal("0.00"),
    )
    snapshot = await replica.load_snapshot(conn, customer_id)
    decision = decide(campaign_id=campaign.campaign_id, campaign=definition, customer=snapshot, event=trigger,
                      counters=counters, policy=engine.policy, now=now,
                      event_fields=trigger_event_fields().get(trigger.event_type, frozenset()),
                      check_condition=check_condition)
    if not decision.is_recorded:
        return decision
    deferred = decision.deferred_until is not None
    outcome = "deferred" if deferred else decision.outcome.value
    await conn.execute(
        """insert into decisions (campaign_id, customer_id, triggering_event_id, outcome, reason, channel, cost,
                                  promotional, decided_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           on conflict (campaign_id, customer_id, triggering_event_id) do update
               set outcome = excluded.outcome, reason = excluded.reason, channel = excluded.channel,
                   cost = excluded.cost, decided_at = excluded.decided_at
               where decisions.outcome = 'deferred'""",
        cid, customer_id, trigger.event_id, outcome, decision.reason.value if decision.reason else None,
        decision.channel.value if decision.channel else None, decision.cost, definition.is_promotion, now,
    )
    events: list[DomainEvent] = []
    base = {"campaign_id": campaign.campaign_id, "customer_id": customer_id}
    if decision.outcome is Outcome.SUPPRESSED and decision.reason is not None:
        events.append(MessageSuppressed(**base, reason=decision.reason, detail=decision.detail,
                                        deferred_until=decision.deferred_until,
                                        triggering_event_id=trigger.event_id))
        if deferred and decision.deferred_until is not None:
            await schedule_timer(conn, kind="deferred_decision", due_at=decision.deferred_until,
                                 key=f"defer:{campaign.campaign_id}:{customer_id}:{trigger.event_id}",
                                 payload={"campaign_id": campaign.campaign_id, "customer_id": customer_id,
                                          "event_id": trigger.event_id, "event_type": trigger.event_type})
    elif decision.outcome is Outcome.HELD_OUT:
        events.append(HeldOut(**base, triggering_event_id=trigger.event_id))
    elif decision.outcome is Outcome.SENT and decision.channel is not None:
        events.extend(await _send(engine, conn, campaign, customer_id, trigger, decision.channel, decision.cost, now))
    await _append(engine, conn, f"decision-{campaign.campaign_id}-{customer_id}-{trigger.event_id}",
                  events, subject=customer_id)
    if decision.budget_now_exhausted and budget_row is not None and budget_row["exhausted_at"] is None:
        spent = counters.budget_spent + (decision.cost if decision.outcome is Outcome.SENT else Decimal("0"))
        await conn.execute("update campaign_budgets set exhausted_at = $2 where campaign_id = $1", cid, now)
        await _append(engine, conn, f"campaign-budget-{campaign.campaign_id}",
                      [CampaignBudgetExhausted(campaign_id=campaign.campaign_id, budget_total=budget_row["total"],
                                               spent=spent)], subject=campaign.campaign_id)
    return decision


async def _send(
    engine: Engine,
    conn: asyncpg.Connection,
    campaign: ActiveCampaign,
    customer_id: str,
    trigger: TriggeringEvent,
    channel: Channel,
    cost: Decimal,
    now: datetime,
) -> list[DomainEvent]:
    definition = campaign.definition
    action = definition.action
    message_id = str(uuid.uuid5(_NAMESPACE, f"{campaign.campaign_id}:{customer_id}:{trigger.event_id}"))
    await conn.execute("update campaign_budgets set spent = spent + $2 where campaign_id = $1",
                       uuid.UUID(campaign.campaign_id), cost)
    variables: dict[str, str] = {}
    events: list[DomainEvent] = []
    if action.kind is ActionKind.OFFER and action.offer is not None:
        code = offer_code_for(campaign.campaign_id, customer_id, trigger.event_id)
        valid_until = now + timedelta(days=action.offer.valid_days)
        await conn.execute(
            """insert into offers (code, campaign_id, customer_id, product_key, channel, issued_at, valid_until)
               values ($1, $2, $3, $4, $5, $6, $7)""",
            code, uuid.UUID(campaign.campaign_id), customer_id, action.offer.product_key, channel.value, now,
            valid_until,
        )
        variables = {"offer_code": code, "discount_pct": str(action.offer.discount_pct),
                     "valid_until": valid_until.isoformat()}
        events.append(OfferSent(campaign_id=campaign.campaign_id, customer_id=customer_id, message_id=message_id,
                                offer_code=code, sku=action.offer.sku, category=action.offer.category,
                                discount_pct=action.offer.discount_pct, channel=channel, template=action.template,
                                cost=cost, valid_until=valid_until, triggering_event_id=trigger.event_id))
    elif action.kind is ActionKind.SURVEY and action.survey_kind is not None:
        survey_id, token = await create_survey(conn, customer_id=customer_id, kind=action.survey_kind,
                                               ticket_id=_ticket_of(trigger), campaign_id=campaign.campaign_id,
                                               channel=channel, now=now)
        variables = {"survey_id": survey_id, "response_token": token}
        events.append(SurveySent(survey_id=survey_id, customer_id=customer_id, kind=action.survey_kind,
                                 ticket_id=_ticket_of(trigger), campaign_id=campaign.campaign_id, channel=channel,
                                 expires_at=now + SURVEY_VALIDITY, triggering_event_id=trigger.event_id))
    else:
        events.append(MessageSent(campaign_id=campaign.campaign_id, customer_id=customer_id, message_id=message_id,
                                  channel=channel, template=action.template, cost=cost,
                                  triggering_event_id=trigger.event_id))
    await request_message(engine, conn, MessageRequested(
        message_id=message_id, customer_id=customer_id, campaign_id=campaign.campaign_id, channel=channel,
        template=action.template, kind=action.kind.value, variables=variables))
    return events


def _ticket_of(trigger: TriggeringEvent) -> str | None:
    ticket = trigger.data.get("ticket_id")
    return None if ticket is None else str(ticket)


async def request_message(engine: Engine, conn: asyncpg.Connection, message: MessageRequested) -> None:
    """Queue a message request on ``campaigns.messages`` in this transaction."""
    envelope = new_envelope(message, service="campaigns", subject=message.customer_id)
    await engine.outbox.enqueue_envelope(conn, engine.messages_topic, envelope)


async def create_survey(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    kind: SurveyKind,
    ticket_id: str | None,
    campaign_id: str | None,
    channel: Channel | None,
    now: datetime,
) -> tuple[str, str]:
    """Store a new survey; returns its id and response token (only the token's hash is stored)."""
    survey_id = str(uuid.uuid4())
    token = secrets.token_urlsafe(24)
    await conn.execute(
        """insert into surveys (id, customer_id, kind, token_hash, ticket_id, campaign_id, channel, sent_at,
                                expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        uuid.UUID(survey_id), customer_id, kind.value, token_hash(token), ticket_id,
        uuid.UUID(campaign_id) if campaign_id else None, channel.value if channel else None, now,
        now + SURVEY_VALIDITY,
    )
    return survey_id, token


def token_hash(token: str) -> str:
    """Tokens are stored hashed: a leaked table cannot answer surveys."""
    return hashlib.sha256(token.encode()).hexdigest()


async def _append(engine: Engine, conn: asyncpg.Connection, stream_id: str, events: list[DomainEvent],
                  *, subject: str) -> None:
    if not events:
        return
    version = await engine.store.stream_version(conn, stream_id)
    await engine.store.append(conn, stream_id=stream_id, stream_type="campaign_decision",
                              expected_version=version, events=events, subject=subject)


async def _attribute_order(
    engine: Engine, conn: asyncpg.Connection, customer_id: str, data: dict[str, Any], at: datetime
) -> None:
    """Redemption of an offer code, and conversions of treated and held-out customers in the window."""
    order_id = str(data.get("order_id"))
    total = Decimal(str(data.get("total") or "0"))
    margin = data.get("margin")
    placed_at = data.get("placed_at") or at
    await conn.execute(
        """insert into conversions (campaign_id, customer_id, grp, order_id, total, converted_at)
           select campaign_id, customer_id, outcome, $3, $4, $5 from decisions
           where customer_id = $1 and outcome in ('sent', 'held_out') and decided_at > $2 and decided_at <= $5
           on conflict (campaign_id, customer_id) do nothing""",
        customer_id, placed_at - engine.attribution_window, order_id, total, placed_at,
    )
    code = data.get("offer_code")
    if not code:
        return
    row = await conn.fetchrow(
        "select code, campaign_id, customer_id, valid_until, redeemed_at from offers where code = $1 for update",
        code,
    )
    offer = (IssuedOffer(row["code"], str(row["campaign_id"]), row["customer_id"], row["valid_until"],
                         row["redeemed_at"] is not None) if row else None)
    invalid = judge_redemption(offer, customer_id=customer_id, ordered_at=placed_at)
    stream = f"redemption-{order_id}"
    if invalid is None and offer is not None:
        await conn.execute(
            "update offers set redeemed_at = $2, order_id = $3, total = $4, margin = $5 where code = $1",
            code, placed_at, order_id, total, None if margin is None else Decimal(str(margin)),
        )
        event: DomainEvent = OfferRedeemed(campaign_id=offer.campaign_id, customer_id=customer_id, offer_code=code,
                                           order_id=order_id, total=total, margin=margin)
    else:
        assert invalid is not None
        await conn.execute(
            """insert into invalid_redemptions (order_id, offer_code, customer_id, campaign_id, reason, recorded_at)
               values ($1, $2, $3, $4, $5, $6) on conflict (order_id) do nothing""",
            order_id, code, customer_id, row["campaign_id"] if row else None, invalid.value, placed_at,
        )
        event = InvalidRedemption(customer_id=customer_id, offer_code=code, order_id=order_id, reason=invalid,
                                  campaign_id=offer.campaign_id if offer else None)
    await _append(engine, conn, stream, [event], subject=customer_id)


# --- durable timers ---------------------------------------------------------------------------------


async def schedule_timer(conn: asyncpg.Connection, *, kind: str, due_at: datetime, key: str,
                         payload: dict[str, Any]) -> None:
    """A timer with a deterministic id: scheduling the same thing twice (redelivery) keeps one timer."""
    await conn.execute(
        "insert into timers (id, kind, due_at, payload) values ($1, $2, $3, $4) on conflict (id) do nothing",
        uuid.uuid5(_NAMESPACE, f"{kind}:{key}"), kind, due_at, orjson.loads(orjson.dumps(payload)),
    )


async def schedule_sweep(conn: asyncpg.Connection, campaign_id: str, due_at: datetime) -> None:
    """The daily sweep of a scheduled (birthday, inactivity) campaign."""
    await schedule_timer(conn, kind="campaign_sweep", due_at=due_at, key=f"{campaign_id}:{due_at.date()}",
                         payload={"campaign_id": campaign_id})


async def fire_due_timers(pool: asyncpg.Pool, engine: Engine, *, now: datetime, limit: int = 100) -> int:
    """Fire every timer due at ``now``, each exactly once, even with several instances running.

    ``for update skip locked`` hands each due timer to one instance; the timer is marked fired in
    the same transaction as what it caused, so a crash fires it again rather than never.
    """
    fired = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """select id, kind, payload from timers where fired_at is null and due_at <= $1
                   order by due_at limit $2 for update skip locked""",
                now, limit,
            )
            for row in rows:
                await _fire(engine, conn, row["kind"], row["payload"], now)
            if rows:
                await conn.execute("update timers set fired_at = $2 where id = any($1::uuid[])",
                                   [r["id"] for r in rows], now)
        fired += len(rows)
        if len(rows) < limit:
            return fired


async def _fire(engine: Engine, conn: asyncpg.Connection, kind: str, payload: dict[str, Any], now: datetime) -> None:
    campaign = await load_active_campaign(conn, payload["campaign_id"])
    if campaign is None:
        return  # paused or completed meanwhile: a delayed trigger of a stopped campaign does nothing
    if kind in ("campaign_trigger", "deferred_decision"):
        trigger = TriggeringEvent(payload["event_id"], payload["event_type"], {})
        await decide_and_record(engine, conn, campaign=campaign, customer_id=payload["customer_id"],
                                trigger=trigger, now=now, check_condition=False)
    elif kind == "campaign_sweep":
        await _sweep(engine, conn, campaign, now)
        await schedule_sweep(conn, campaign.campaign_id, now + timedelta(days=1))


async def _sweep(engine: Engine, conn: asyncpg.Connection, campaign: ActiveCampaign, now: datetime) -> None:
    trigger = campaign.definition.trigger
    if trigger.schedule is Schedule.BIRTHDAY:
        rows = await conn.fetch(
            """select customer_id, null::timestamptz as episode from customer_replica
               where birthday is not null and not erased
                 and extract(month from birthday) = $1 and extract(day from birthday) = $2""",
            now.month, now.day,
        )
        episode = f"birthday:{now.date()}"
    elif trigger.schedule is Schedule.INACTIVITY and trigger.inactivity_days:
        rows = await conn.fetch(
            """select customer_id, last_order_at as episode from customer_replica
               where not erased and last_order_at < $1""",
            now - timedelta(days=trigger.inactivity_days),
        )
        episode = "inactive-since"
    else:
        return
    for row in rows:
        # One decision per episode: one per birthday, one per "no order since <last order>".
        marker = f"{episode}:{row['episode'].isoformat()}" if row["episode"] else episode
        event_id = str(uuid.uuid5(_NAMESPACE, f"{campaign.campaign_id}:{row['customer_id']}:{marker}"))
        await decide_and_record(engine, conn, campaign=campaign, customer_id=row["customer_id"],
                                trigger=TriggeringEvent(event_id, "Scheduled", {}), now=now, check_condition=False)
