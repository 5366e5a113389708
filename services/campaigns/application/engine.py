"""The engine: consumed events → replica, redemptions, conversions, and one decision per trigger.

Runs inside the consumer kit's transaction (``apply(conn, events)``), so the replica update, the
decision row, its events (event store → outbox → ``campaigns.events``) and the message request
(outbox → ``campaigns.messages``) commit together or not at all.

Exactly once per (campaign, customer, triggering event): the ``decisions`` primary key, checked
after taking the customer's advisory lock and the campaign's budget row lock. The row lock
serialises decisions of one campaign, which is what makes budget and per-campaign caps hold with
several consumers and timer instances; the customer lock does the same for the rules that span
campaigns (global frequency cap, channel integration).

The engine also consumes its own ``campaigns.events``, for what customers do in this domain (a
survey answer, a redeemed offer). It cannot loop: only those customer actions can trigger a
campaign (``triggers.CUSTOMER_ACTIONS_IN_CAMPAIGNS``), never a decision (``OfferSent``,
``MessageSuppressed``...), and an event never triggers the campaign it names itself.

Sweeps (birthdays, inactivity) and every other decision go through ``decide_many``: a fixed number
of statements per call, however many customers it decides for.
"""

from __future__ import annotations

import calendar
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from services.campaigns.adapters import replica
from services.campaigns.adapters import surveys as survey_store
from services.campaigns.adapters.decision_log import StreamAppend, append_to_streams
from services.campaigns.application import service_messages
from services.campaigns.application.triggers import is_trigger_source, trigger_event_fields
from services.campaigns.domain.decision import (
    Counters,
    CustomerSnapshot,
    Decision,
    MarketingPolicy,
    Outcome,
    TriggeringEvent,
    decide,
    offer_code_for,
)
from services.campaigns.domain.definition import parse_definition
from services.campaigns.domain.model import CampaignDefinition, Schedule
from services.campaigns.domain.surveys import SURVEY_VALIDITY, IssuedOffer, judge_redemption, survey_questions
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
    SurveyQuestion,
    SurveySent,
)
from shared.events.catalog import DomainEvent
from shared.events.envelope import new_envelope
from shared.privacy.erasure import acknowledge_erasure
from shared.store import timers as timer_table
from shared.store.eventstore import EventStore, Outbox
from shared.store.timers import TimerSpec

_NAMESPACE = uuid.UUID("6d1a7c1e-3b0f-4f51-9a57-4c0a2b0c3600")


@dataclass(frozen=True, slots=True)
class Engine:
    """What the engine writes to: the event store, the outbox and the messages topic, with the policy."""

    store: EventStore
    messages_topic: str
    policy: MarketingPolicy = field(default_factory=MarketingPolicy)
    attribution_window: timedelta = timedelta(days=30)
    outbox: Outbox = field(default_factory=Outbox)
    keys: Any = None
    """The worker's key provider, told to forget an erased customer's cached keys (optional)."""
    policies: Any = None
    """Where the current marketing policy comes from (``application.policy.PolicySource``); without it,
    ``policy`` as given (unit and replay tests)."""


async def current_policy(engine: Engine, conn: asyncpg.Connection) -> MarketingPolicy:
    """The marketing policy a decision taken now uses (its version checked per batch: no restart to change it)."""
    if engine.policies is None:
        return engine.policy
    policy: MarketingPolicy = await engine.policies.current(conn)
    return policy


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


@dataclass(frozen=True, slots=True)
class Consumed:
    """One consumed event as the engine takes it (what ``handle_event`` is called with)."""

    event_id: str
    event: DomainEvent
    subject: str
    at: datetime
    history: bool = False


async def handle_events(engine: Engine, conn: asyncpg.Connection, events: Sequence[Consumed], *,
                        now: datetime) -> None:
    """``handle_event`` for each event, in order, in the caller's transaction.

    Imported history only changes the replica (see ``handle_event``), so a run of it goes to the
    replica together (``replica.apply_many_to_replica``: a few round trips instead of one per event,
    the same rows); an erasure or a live event first settles the run before it.
    """
    history: list[replica.ReplicaChange] = []
    for item in events:
        event = item.event
        if not is_trigger_source(event):
            continue
        if item.history and event.event_type != "CustomerErased":
            data = event.model_dump()
            history.append((event.event_type, str(data.get("customer_id") or item.subject), data, item.at))
            continue
        if history:
            await replica.apply_many_to_replica(conn, history)
            history = []
        await handle_event(engine, conn, event_id=item.event_id, event=event, subject=item.subject, at=item.at,
                           now=now, history=item.history)
    if history:
        await replica.apply_many_to_replica(conn, history)


async def handle_event(
    engine: Engine,
    conn: asyncpg.Connection,
    *,
    event_id: str,
    event: DomainEvent,
    subject: str,
    at: datetime,
    now: datetime,
    history: bool = False,
) -> None:
    """Everything one consumed event causes, in the caller's transaction.

    ``history`` (the envelope's ``c360history`` extension: an imported past, ADR 0009) updates what
    the engine knows about the customer and nothing else: no offer for a 2019 order, no survey for a
    2020 ticket, no delayed trigger, no attribution.
    """
    if not is_trigger_source(event):
        return  # the engine's own decisions, read back from campaigns.events: never a trigger
    data = event.model_dump()
    customer_id = str(data.get("customer_id") or subject)
    await replica.apply_to_replica(conn, event.event_type, customer_id, data, at)
    if event.event_type == "CustomerErased":
        await forget_customer(engine, conn, customer_id=customer_id, erasure_event_id=event_id, now=now)
        return
    if history:
        return
    # Telling the customer what was done for them: a service follow-up, outside every campaign.
    await service_messages.on_event(engine, conn, event_id=event_id, event_type=event.event_type, data=data,
                                    customer_id=customer_id, now=now)
    if event.event_type == "OrderPlaced":
        await _attribute_order(engine, conn, customer_id, data, at)
    trigger = TriggeringEvent(event_id, event.event_type, data)
    fields = trigger_event_fields().get(event.event_type, frozenset())
    for campaign in await active_campaigns_for(conn, event.event_type):
        if str(data.get("campaign_id")) == campaign.campaign_id:
            continue  # an answer to this campaign's own survey, its own offer redeemed: no self-trigger
        if campaign.definition.trigger.delay is not None:
            # Condition and audience are judged now, on the facts of the event; the rest when due.
            probe = decide(campaign_id=campaign.campaign_id, campaign=campaign.definition,
                           customer=await replica.load_snapshot(conn, customer_id), event=trigger,
                           counters=Counters(), policy=await current_policy(engine, conn), now=now,
                           event_fields=fields)
            if probe.outcome is not Outcome.NOT_TRIGGERED:
                await schedule_timer(conn, kind="campaign_trigger", due_at=at + campaign.definition.trigger.delay,
                                     key=f"{campaign.campaign_id}:{customer_id}:{event_id}",
                                     payload={"campaign_id": campaign.campaign_id, "customer_id": customer_id,
                                              "event_id": event_id, "event_type": event.event_type})
            continue
        await decide_and_record(engine, conn, campaign=campaign, customer_id=customer_id, trigger=trigger, now=now)


async def forget_customer(
    engine: Engine, conn: asyncpg.Connection, *, customer_id: str, erasure_event_id: str, now: datetime
) -> None:
    """Right to be forgotten, campaigns' part: destroy the keys sealing what the customer wrote (survey
    comments), for duplicates merged into them too, and acknowledge in the same transaction."""
    people = [customer_id, *[str(r["customer_id"]) for r in await conn.fetch(
        "select customer_id from customer_replica where merged_into = $1", customer_id)]]
    for person in people:
        await engine.store.keys.destroy(conn, person)
    forget = getattr(engine.keys, "forget", None)
    if forget is not None:
        for person in people:
            forget(person)
    await acknowledge_erasure(engine.store, conn, customer_id=customer_id, service="campaigns", erased_at=now,
                              erasure_event_id=erasure_event_id, details={"keys_destroyed": len(people)})


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
    """Decide once for (campaign, customer, trigger) and record the decision; None when already decided."""
    return (await decide_many(engine, conn, campaign=campaign, pairs=[(customer_id, trigger)], now=now,
                              check_condition=check_condition))[0]


async def lock_customers(conn: asyncpg.Connection, customer_ids: Sequence[str]) -> None:
    """Serialise decisions about the same customers across campaigns, the engine and timer instances.

    The budget row lock serialises one campaign; the global frequency cap and channel integration
    span campaigns, so two transactions deciding for one customer (an engine batch and a timer, two
    timer instances) must not both count "no live offer yet". All locks of a call are taken in one
    statement, in sorted order; a deadlock with another batch is detected by PostgreSQL and retried
    (by the consumer kit, a transient error, or by the next timer poll).
    """
    if customer_ids:
        await conn.execute(
            """select pg_advisory_xact_lock(hashtextextended('campaigns:customer:' || c, 0))
               from (select distinct unnest($1::text[]) as c order by 1) as ids""",
            list(customer_ids),
        )


def _sends(rows: list[list[str]] | None) -> tuple[tuple[Channel, datetime], ...]:
    """``(channel, decided_at)`` pairs of recent promotional sends, for the policy's per-channel caps."""
    return tuple((Channel(channel), datetime.fromisoformat(at)) for channel, at in rows or ())


@dataclass(frozen=True, slots=True)
class _Candidate:
    customer: CustomerSnapshot
    trigger: TriggeringEvent
    counters: Counters
    existing: str | None


async def _load_candidates(
    engine: Engine, conn: asyncpg.Connection, campaign_id: uuid.UUID,
    pairs: Sequence[tuple[str, TriggeringEvent]], now: datetime, policy: MarketingPolicy,
) -> list[_Candidate]:
    """Snapshots, counters and earlier decisions of every pair in two statements, whatever their number."""
    customer_ids = [c for c, _ in pairs]
    counted = await conn.fetch(
        """select r.ord,
                  (select count(*) from decisions d where d.campaign_id = $2 and d.customer_id = r.customer_id
                       and d.outcome in ('sent', 'held_out')) as reached,
                  (select count(*) from decisions d where d.customer_id = r.customer_id and d.outcome = 'sent'
                       and d.promotional and d.decided_at > $3) as recent,
                  (select coalesce(array_agg(distinct o.product_key), '{}') from offers o
                       where o.customer_id = r.customer_id and o.redeemed_at is null and o.valid_until > $4) as live,
                  (select d.outcome from decisions d where d.campaign_id = $2 and d.customer_id = r.customer_id
                       and d.triggering_event_id = r.triggering_event_id) as existing,
                  (select array_agg(array[d.channel, d.decided_at::text]) from decisions d
                       where d.customer_id = r.customer_id and d.outcome = 'sent' and d.promotional
                         and $6::timestamptz is not null and d.decided_at > $6) as sends
           from unnest($1::text[], $5::text[]) with ordinality as r(customer_id, triggering_event_id, ord)
           order by r.ord""",
        customer_ids, campaign_id, now - policy.frequency_window, now, [t.event_id for _, t in pairs],
        # No per-channel or override caps: null, a one-time filter that skips the lookup for every row.
        now - policy.lookback if policy.lookback else None,
    )
    snapshots = await replica.load_snapshots(conn, customer_ids)
    return [
        _Candidate(
            customer=snapshots.get(customer_id) or CustomerSnapshot(customer_id=customer_id, known=False),
            trigger=trigger,
            counters=Counters(reached_by_campaign=row["reached"], marketing_sent_in_window=row["recent"],
                              live_offer_products=frozenset(row["live"]), recent_sends=_sends(row["sends"])),
            existing=row["existing"],
        )
        for (customer_id, trigger), row in zip(pairs, counted, strict=True)
    ]


async def decide_many(
    engine: Engine,
    conn: asyncpg.Connection,
    *,
    campaign: ActiveCampaign,
    pairs: Sequence[tuple[str, TriggeringEvent]],
    now: datetime,
    check_condition: bool = True,
) -> list[Decision | None]:
    """Decide for many (customer, trigger) pairs of one campaign with a fixed number of statements.

    The same rules as one decision at a time: the customers' and the campaign's locks first, then
    the counters, then the pure ``decide`` per pair in order, carrying forward what earlier pairs of
    this call spent and sent. Returns one entry per pair: None where it was already decided.
    """
    cid = uuid.UUID(campaign.campaign_id)
    definition = campaign.definition
    await lock_customers(conn, [c for c, _ in pairs])
    budget_row = await conn.fetchrow(
        "select total, spent, exhausted_at from campaign_budgets where campaign_id = $1 for update", cid
    )
    spent: Decimal = budget_row["spent"] if budget_row else Decimal("0.00")
    policy = await current_policy(engine, conn)
    candidates = await _load_candidates(engine, conn, cid, pairs, now, policy)
    reached: dict[str, int] = {}
    recent: dict[str, int] = {}
    sends: dict[str, list[tuple[Channel, datetime]]] = {}
    live: dict[str, set[str]] = {}
    fields = trigger_event_fields()
    results: list[Decision | None] = []
    recorded: list[tuple[str, TriggeringEvent, Decision]] = []
    exhausted_now = False
    for candidate in candidates:
        if candidate.existing is not None and candidate.existing != "deferred":
            results.append(None)  # already decided: a redelivery, a replay or a second timer instance
            continue
        customer_id = candidate.customer.customer_id
        counters = replace(
            candidate.counters,
            reached_by_campaign=candidate.counters.reached_by_campaign + reached.get(customer_id, 0),
            marketing_sent_in_window=candidate.counters.marketing_sent_in_window + recent.get(customer_id, 0),
            live_offer_products=candidate.counters.live_offer_products | live.get(customer_id, set()),
            budget_spent=spent,
            recent_sends=candidate.counters.recent_sends + tuple(sends.get(customer_id, ())),
        )
        decision = replace(decide(campaign_id=campaign.campaign_id, campaign=definition, customer=candidate.customer,
                                  event=candidate.trigger, counters=counters, policy=policy, now=now,
                                  event_fields=fields.get(candidate.trigger.event_type, frozenset()),
                                  check_condition=check_condition), policy_version=policy.version)
        results.append(decision)
        if not decision.is_recorded:
            continue
        recorded.append((customer_id, candidate.trigger, decision))
        exhausted_now = exhausted_now or decision.budget_now_exhausted
        if decision.outcome in (Outcome.SENT, Outcome.HELD_OUT):
            reached[customer_id] = reached.get(customer_id, 0) + 1
        if decision.outcome is Outcome.SENT:
            spent += decision.cost
            if definition.is_promotion:
                recent[customer_id] = recent.get(customer_id, 0) + 1
                if decision.channel is not None:
                    sends.setdefault(customer_id, []).append((decision.channel, now))
            if decision.offer is not None:
                live.setdefault(customer_id, set()).add(decision.offer.product_key)
    await _record(engine, conn, campaign, recorded, now)
    if exhausted_now and budget_row is not None and budget_row["exhausted_at"] is None:
        await conn.execute("update campaign_budgets set exhausted_at = $2 where campaign_id = $1", cid, now)
        await append_events(engine, conn, f"campaign-budget-{campaign.campaign_id}",
                      [CampaignBudgetExhausted(campaign_id=campaign.campaign_id, budget_total=budget_row["total"],
                                               spent=spent)], subject=campaign.campaign_id)
    return results


@dataclass
class _Effects:
    """Everything a set of decisions writes, gathered so each table gets one statement."""

    decisions: list[tuple[str, str, str, str | None, str | None, Decimal, int | None]] = field(default_factory=list)
    streams: list[StreamAppend] = field(default_factory=list)
    offers: list[tuple[str, str, str, str, datetime]] = field(default_factory=list)
    surveys: list[tuple[uuid.UUID, str, str, str, str | None, str, str | None]] = field(default_factory=list)
    messages: list[MessageRequested] = field(default_factory=list)
    timers: list[TimerSpec] = field(default_factory=list)
    cost: Decimal = Decimal("0.00")


async def _record(
    engine: Engine,
    conn: asyncpg.Connection,
    campaign: ActiveCampaign,
    recorded: Sequence[tuple[str, TriggeringEvent, Decision]],
    now: datetime,
) -> None:
    """Write the decisions with their events, offers, surveys, message requests and timers."""
    if not recorded:
        return
    cid = uuid.UUID(campaign.campaign_id)
    definition = campaign.definition
    effects = _Effects()
    for customer_id, trigger, decision in recorded:
        deferred = decision.deferred_until is not None
        effects.decisions.append((customer_id, trigger.event_id, "deferred" if deferred else decision.outcome.value,
                                  decision.reason.value if decision.reason else None,
                                  decision.channel.value if decision.channel else None, decision.cost,
                                  decision.policy_version))
        base = {"campaign_id": campaign.campaign_id, "customer_id": customer_id}
        events: list[DomainEvent] = []
        if decision.outcome is Outcome.SUPPRESSED and decision.reason is not None:
            events.append(MessageSuppressed(**base, policy_version=decision.policy_version,
                                            reason=decision.reason, detail=decision.detail,
                                            deferred_until=decision.deferred_until,
                                            triggering_event_id=trigger.event_id))
            if decision.deferred_until is not None:
                effects.timers.append(("deferred_decision", decision.deferred_until,
                                       f"defer:{campaign.campaign_id}:{customer_id}:{trigger.event_id}",
                                       {"campaign_id": campaign.campaign_id, "customer_id": customer_id,
                                        "event_id": trigger.event_id, "event_type": trigger.event_type}))
        elif decision.outcome is Outcome.HELD_OUT:
            events.append(HeldOut(**base, triggering_event_id=trigger.event_id,
                                  policy_version=decision.policy_version))
        elif decision.outcome is Outcome.SENT and decision.channel is not None:
            events.append(_plan_send(effects, campaign, customer_id, trigger, decision, decision.channel, now))
            effects.cost += decision.cost
        effects.streams.append(StreamAppend(f"decision-{campaign.campaign_id}-{customer_id}-{trigger.event_id}",
                                            customer_id, events))
    columns = list(zip(*effects.decisions, strict=True))
    await conn.execute(
        """insert into decisions (campaign_id, customer_id, triggering_event_id, outcome, reason, channel, cost,
                                  promotional, decided_at, policy_version)
           select $1, d.customer_id, d.event_id, d.outcome, d.reason, d.channel, d.cost, $9, $10, d.policy_version
           from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[], $8::int[])
                as d(customer_id, event_id, outcome, reason, channel, cost, policy_version)
           on conflict (campaign_id, customer_id, triggering_event_id) do update
               set outcome = excluded.outcome, reason = excluded.reason, channel = excluded.channel,
                   cost = excluded.cost, decided_at = excluded.decided_at, policy_version = excluded.policy_version
               where decisions.outcome = 'deferred'""",
        cid, *columns, definition.is_promotion, now,
    )
    if effects.cost:
        await conn.execute("update campaign_budgets set spent = spent + $2 where campaign_id = $1", cid, effects.cost)
    if effects.offers:
        codes, customers, product_keys, channels, valid = zip(*effects.offers, strict=True)
        await conn.execute(
            """insert into offers (code, campaign_id, customer_id, product_key, channel, issued_at, valid_until)
               select o.code, $1, o.customer_id, o.product_key, o.channel, $6, o.valid_until
               from unnest($2::text[], $3::text[], $4::text[], $5::text[], $7::timestamptz[])
                    as o(code, customer_id, product_key, channel, valid_until)""",
            cid, list(codes), list(customers), list(product_keys), list(channels), now, list(valid),
        )
    if effects.surveys:
        ids, customers, kinds, hashes, tickets, channels, orders = zip(*effects.surveys, strict=True)
        await conn.execute(
            """insert into surveys (id, customer_id, kind, token_hash, ticket_id, campaign_id, channel, sent_at,
                                    expires_at)
               select s.id, s.customer_id, s.kind, s.token_hash, s.ticket_id, $1, s.channel, $7, $8
               from unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $9::text[])
                    as s(id, customer_id, kind, token_hash, ticket_id, channel)""",
            cid, list(ids), list(customers), list(kinds), list(hashes), list(tickets), now, now + SURVEY_VALIDITY,
            list(channels),
        )
        await survey_store.plan_surveys(conn, survey_ids=ids, customer_ids=customers, order_ids=orders, sent_at=now,
                                        purpose=definition.action.survey.purpose if definition.action.survey else None,
                                        questions=_questions_of(definition))
    await append_to_streams(conn, engine.store, stream_type="campaign_decision", appends=effects.streams)
    await request_messages(engine, conn, effects.messages)
    await schedule_timers(conn, effects.timers)


def _plan_send(
    effects: _Effects,
    campaign: ActiveCampaign,
    customer_id: str,
    trigger: TriggeringEvent,
    decision: Decision,
    channel: Channel,
    now: datetime,
) -> DomainEvent:
    """The sent event of one decision; its offer, survey and message request go into ``effects``.

    An offer offers what the decision chose (``decision.offer``): the campaign's product, or the
    customer's recommended sku; the message request names it so the template can show it.
    """
    action = campaign.definition.action
    cost = decision.cost
    message_id = str(uuid.uuid5(_NAMESPACE, f"{campaign.campaign_id}:{customer_id}:{trigger.event_id}"))
    variables: dict[str, str] = {}
    sent: DomainEvent
    offer = decision.offer
    if action.kind is ActionKind.OFFER and offer is not None:
        code = offer_code_for(campaign.campaign_id, customer_id, trigger.event_id)
        valid_until = now + timedelta(days=offer.valid_days)
        effects.offers.append((code, customer_id, offer.product_key, channel.value, valid_until))
        variables = {"offer_code": code, "discount_pct": str(offer.discount_pct),
                     "valid_until": valid_until.isoformat()}
        variables.update({name: value for name, value in (("sku", offer.sku), ("category", offer.category))
                          if value is not None})
        sent = OfferSent(campaign_id=campaign.campaign_id, customer_id=customer_id, message_id=message_id,
                         offer_code=code, sku=offer.sku, category=offer.category,
                         discount_pct=offer.discount_pct, channel=channel, template=action.template,
                         cost=cost, valid_until=valid_until, triggering_event_id=trigger.event_id,
                         policy_version=decision.policy_version)
    elif action.kind is ActionKind.SURVEY and action.survey_kind is not None:
        survey_id, token = str(uuid.uuid4()), secrets.token_urlsafe(24)
        effects.surveys.append((uuid.UUID(survey_id), customer_id, action.survey_kind.value, token_hash(token),
                                _ticket_of(trigger), channel.value, _order_of(trigger)))
        variables = {"survey_id": survey_id, "response_token": token}
        sent = SurveySent(survey_id=survey_id, customer_id=customer_id, kind=action.survey_kind,
                          ticket_id=_ticket_of(trigger), campaign_id=campaign.campaign_id, channel=channel,
                          expires_at=now + SURVEY_VALIDITY, triggering_event_id=trigger.event_id,
                          purpose=action.survey.purpose if action.survey else None, order_id=_order_of(trigger),
                          questions=list(_questions_of(campaign.definition)))
    else:
        sent = MessageSent(campaign_id=campaign.campaign_id, customer_id=customer_id, message_id=message_id,
                           channel=channel, template=action.template, cost=cost,
                           triggering_event_id=trigger.event_id, policy_version=decision.policy_version)
    effects.messages.append(MessageRequested(
        message_id=message_id, customer_id=customer_id, campaign_id=campaign.campaign_id, channel=channel,
        template=action.template, kind=action.kind.value, variables=variables))
    return sent


def _ticket_of(trigger: TriggeringEvent) -> str | None:
    ticket = trigger.data.get("ticket_id")
    return None if ticket is None else str(ticket)


def _order_of(trigger: TriggeringEvent) -> str | None:
    """The order a survey asks about: the delivered order that triggered it (a transactional survey)."""
    order = trigger.data.get("order_id") if trigger.event_type == "OrderDelivered" else None
    return None if order is None else str(order)


def _questions_of(definition: CampaignDefinition) -> tuple[SurveyQuestion, ...]:
    kind, plan = definition.action.survey_kind, definition.action.survey
    return survey_questions(kind, plan.extra_questions if plan else ()) if kind is not None else ()


async def request_message(engine: Engine, conn: asyncpg.Connection, message: MessageRequested) -> None:
    """Queue a message request on ``campaigns.messages`` in this transaction."""
    envelope = new_envelope(message, service="campaigns", subject=message.customer_id)
    await engine.outbox.enqueue_envelope(conn, engine.messages_topic, envelope)


async def request_messages(engine: Engine, conn: asyncpg.Connection, messages: Sequence[MessageRequested]) -> None:
    """Queue many message requests on ``campaigns.messages`` with one statement, in order."""
    envelopes = [new_envelope(m, service="campaigns", subject=m.customer_id) for m in messages]
    await engine.outbox.enqueue_envelopes(conn, engine.messages_topic, envelopes)


def token_hash(token: str) -> str:
    """Tokens are stored hashed: a leaked table cannot answer surveys."""
    return hashlib.sha256(token.encode()).hexdigest()


async def append_events(engine: Engine, conn: asyncpg.Connection, stream_id: str, events: list[DomainEvent],
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
    await append_events(engine, conn, stream, [event], subject=customer_id)


# --- durable timers ---------------------------------------------------------------------------------


async def schedule_timer(conn: asyncpg.Connection, *, kind: str, due_at: datetime, key: str,
                         payload: dict[str, Any]) -> None:
    """A timer with a deterministic id: scheduling the same thing twice (redelivery) keeps one timer."""
    await schedule_timers(conn, [(kind, due_at, key, payload)])


async def schedule_timers(conn: asyncpg.Connection, timers: Sequence[TimerSpec]) -> None:
    """Many timers ``(kind, due_at, key, payload)`` in one statement; each id derives from kind and key."""
    await timer_table.schedule_timers(conn, _NAMESPACE, timers)


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
            due = await timer_table.take_due_timers(conn, now, limit)
            for timer in due:
                await _fire(engine, conn, timer.kind, timer.payload, now)
            await timer_table.mark_fired(conn, due, now)
        fired += len(due)
        if len(due) < limit:
            return fired


async def _fire(engine: Engine, conn: asyncpg.Connection, kind: str, payload: dict[str, Any], now: datetime) -> None:
    if kind == service_messages.TIMER_KIND:
        await service_messages.fire(engine, conn, payload, now)
        return
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


SWEEP_CHUNK = 1000
"""Customers decided per statement set in a sweep: bounded memory, a fixed number of round trips each."""


async def _sweep(engine: Engine, conn: asyncpg.Connection, campaign: ActiveCampaign, now: datetime) -> None:
    """Decide a scheduled campaign for every customer it is due for, a chunk of customers at a time.

    Set-based: each chunk is one query for the customers, then ``decide_many`` (a fixed number of
    statements whatever the chunk's size), never a round trip per customer.
    """
    trigger = campaign.definition.trigger
    after = ""
    while True:
        if trigger.schedule is Schedule.BIRTHDAY:
            rows = await conn.fetch(
                """select customer_id, null::timestamptz as episode from customer_replica
                   where birthday is not null and not erased and customer_id > $4
                     and ((extract(month from birthday) = $1 and extract(day from birthday) = $2)
                          or ($3 and extract(month from birthday) = 2 and extract(day from birthday) = 29))
                   order by customer_id limit $5""",
                now.month, now.day, _feb_29_falls_on_feb_28(now.date()), after, SWEEP_CHUNK,
            )
            episode = f"birthday:{now.date()}"
        elif trigger.schedule is Schedule.INACTIVITY and trigger.inactivity_days:
            rows = await conn.fetch(
                """select customer_id, last_order_at as episode from customer_replica
                   where not erased and last_order_at < $1 and customer_id > $2
                   order by customer_id limit $3""",
                now - timedelta(days=trigger.inactivity_days), after, SWEEP_CHUNK,
            )
            episode = "inactive-since"
        elif trigger.schedule is Schedule.RELATIONSHIP_SURVEY and campaign.definition.action.survey is not None:
            # Due: asked never or longer than the period ago, and no complaint open (it waits until
            # resolved). One decision per customer per period at most (a customer without consent is
            # not reconsidered every day, but again in the next period).
            period = campaign.definition.action.survey.period
            rows = await conn.fetch(
                """select customer_id, last_relationship_survey_at as episode from customer_replica
                   where registered and not erased and merged_into is null and cardinality(open_complaints) = 0
                     and (last_relationship_survey_at is null or last_relationship_survey_at <= $1)
                     and customer_id > $2
                   order by customer_id limit $3""",
                now - period, after, SWEEP_CHUNK,
            )
            episode = f"relationship:{now.date().toordinal() // period.days}"
        else:
            return
        pairs = []
        for row in rows:
            # One decision per episode: one per birthday, one per "no order since <last order>".
            marker = f"{episode}:{row['episode'].isoformat()}" if row["episode"] else episode
            event_id = str(uuid.uuid5(_NAMESPACE, f"{campaign.campaign_id}:{row['customer_id']}:{marker}"))
            pairs.append((row["customer_id"], TriggeringEvent(event_id, "Scheduled", {})))
        if pairs:
            await decide_many(engine, conn, campaign=campaign, pairs=pairs, now=now, check_condition=False)
        if len(rows) < SWEEP_CHUNK:
            return
        after = rows[-1]["customer_id"]


def _feb_29_falls_on_feb_28(today: date) -> bool:
    """Outside leap years, customers born on 29 February celebrate on the 28th."""
    return today.month == 2 and today.day == 28 and not calendar.isleap(today.year)
