"""The 360 projector: every domain event into the read models, in batches, with derived signals.

``ViewProjection.apply(conn, events)`` runs inside the consumer kit's transaction with events
not applied before. Per batch it costs a fixed number of statements whatever its size: resolve
merged ids, record the timeline (which also deduplicates), load the affected views in one query,
fold in memory, write the views back in one statement, add the KPI facts set-based. Signals are
appended to analytics' own event store in the same transaction (and from there, through the
outbox, to ``analytics.events``), so a change is published exactly once or not at all.

Customers whose purchases changed in the batch (or who were merged or unmerged) get their
recommendations recomputed: one co-purchase query for all of them, compared with what was last
published for each (``public.published_recommendations``), and a ``RecommendationsChanged``
among their signals when the list changed.

A rebuild runs the same projector with ``store=None``: it recomputes the read models without
publishing the signals a second time (nor recomputing recommendations, which only feed signals).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

import asyncpg
import orjson

from services.analytics.adapters import readmodel as rm
from services.analytics.adapters.signals import SignalAppend, append_signals
from services.analytics.application.state_cache import (
    DEFAULT_CAPACITY,
    DEFAULT_MAX_BYTES,
    CachedState,
    StateCache,
    delta_json,
    serialise,
    whole_json,
)
from services.analytics.domain import formulas as f
from services.analytics.domain import model
from services.analytics.domain.model import Fact, State
from services.analytics.domain.reasons import reason_terms
from services.analytics.domain.rules import AnalyticsRules
from services.analytics.domain.signals import changes, recommendations_change
from shared.consuming.consumer import ReceivedEvent
from shared.events.catalog import CATALOG, DomainEvent
from shared.events.envelope import is_imported_history
from shared.privacy.erasure import acknowledge_erasure
from shared.store.eventstore import EventStore

log = logging.getLogger(__name__)

SIGNAL_STREAM_TYPE = "customer-signals"


def signal_stream(customer_id: str) -> str:
    return f"customer-signals-{customer_id}"


def _customer_of(received: ReceivedEvent, data: dict[str, Any]) -> str | None:
    value = data.get("customer_id")
    if value is None:
        return None
    return _canonical_id(str(value))


@lru_cache(maxsize=65_536)
def _canonical_id(value: str) -> str | None:
    """The id as a canonical UUID string (cached: every event of a batch asks, twice)."""
    parsed = rm.uuid_or_none(value)
    return str(parsed) if parsed else None


def _by_time_and_id(item: tuple[Any, ...]) -> tuple[datetime, str]:
    """Events of a batch in ``(time, id)`` order, the fold's order."""
    return item[0], item[1]


def _when(data: dict[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    if not value:
        return None
    return model.parse_iso(str(value))


def view_row(
    state: State,
    *,
    merged_into: str | None,
    signal_version: int,
    state_json: str | None = None,
    delta: str | None = None,
) -> rm.ViewRow:
    """The list columns of a view, derived from its state (``state_json``/``delta``: see ``rm.ViewRow``)."""
    traits = state["traits"]
    lifecycle = traits["lifecycle"]
    churn = traits["churn"]
    tier = traits["tier"]
    name = state["profile"]["name"]
    since = state["profile"]["customer_since"] or state["first_at"]
    status = "merged" if merged_into else ("active" if state["status"] == "unknown" else state["status"])
    return rm.ViewRow(
        customer_id=state["customer_id"],
        state=state,
        merged_into=merged_into,
        status=status,
        lifecycle_stage=lifecycle["stage"] if lifecycle else None,
        churn_band=churn["band"] if churn else None,
        churn_score=Decimal(churn["score"]) if churn else None,
        value_tier=tier["tier"] if tier else None,
        clv=model.historic_clv(state),
        segments=sorted(traits["segments"]),
        name_search=name.lower() if isinstance(name, str) and not name.startswith(model.ENCRYPTED_PREFIX) else None,
        acquisition_channel=state["profile"]["acquisition_channel"],
        customer_since=model.parse_iso(since) if since else None,
        dissolved_at=model.parse_iso(lifecycle["since"]) if lifecycle and lifecycle["stage"] == "dissolution" else None,
        dissolutions=model.dissolution_ranges(state),
        last_event_at=model.parse_iso(state["last_event_at"]) if state["last_event_at"] else None,
        signal_version=signal_version,
        state_json=state_json,
        delta_json=delta,
    )


COMPACT_EVERY = 20
"""Batches between two attempts to fold the co-purchase deltas into the totals (one worker at a time)."""


class KpiSource(Protocol):
    """What the KPI collection reads of an event besides its data."""

    @property
    def event_type(self) -> str: ...
    @property
    def event_id(self) -> Any: ...
    @property
    def time(self) -> datetime: ...


@dataclass
class _Batch:
    facts: dict[str, list[Fact]] = field(default_factory=dict)
    timeline: list[tuple[Any, ...]] = field(default_factory=list)
    refold: set[str] = field(default_factory=set)
    merged_into: dict[str, str | None] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)
    erasure_ids: dict[str, str] = field(default_factory=dict)
    surveys: list[tuple[Any, ...]] = field(default_factory=list)
    reasons: list[tuple[Any, ...]] = field(default_factory=list)
    """Terms of NPS reasons ``(event_id, customer_id, answered_at, category, terms)``."""
    forgotten: set[str] = field(default_factory=set)
    """Customers erased (with their duplicates) whose NPS reasons go once this batch's are written."""
    tickets: list[dict[str, Any]] = field(default_factory=list)
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    holdouts: list[tuple[str, str, datetime]] = field(default_factory=list)
    orders: list[tuple[str, datetime]] = field(default_factory=list)
    moves: list[tuple[str, str | None]] = field(default_factory=list)
    """Merges ``(duplicate, survivor)`` and unmerges ``(duplicate, None)`` of the batch, in order."""
    live: set[str] = field(default_factory=set)
    imported: set[str] = field(default_factory=set)
    """Owners with live / imported-history events in the batch: signals of owners with only the latter are
    marked as history (ADR 0009), so no campaign reacts to them."""


class ViewProjection:
    """Folds batches of domain events into the 360 views, timeline and KPI read models.

    The use case behind the 360 consumer (``consumers/projector.py``) and the replay rebuild. It keeps
    the folded states of recently seen customers in memory (``cache``); ``forget_cached_states``
    empties it when partitions move to another worker.
    """

    def __init__(
        self,
        *,
        rules: AnalyticsRules,
        store: EventStore | None,
        cache_capacity: int = DEFAULT_CAPACITY,
        cache_max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.rules = rules
        self.store = store
        self.cache = StateCache(cache_capacity, cache_max_bytes)
        self._batches = 0

    def forget_cached_states(self) -> None:
        """Drop every cached state (a rebalance took partitions away).

        The cache is keyed by customer, not partition (a merged customer's events come from several
        partitions), so a revocation drops it all; rebalances are rare. Correctness does not depend on
        this call: a state another worker wrote meanwhile has a new revision and is loaded again.
        """
        self.cache.clear()

    async def apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        """Apply one batch of events not applied before, inside the caller's transaction."""
        try:
            await self._apply(conn, events)
        except BaseException:
            # cached states were folded in place for a transaction that will not commit
            self.cache.clear()
            raise

    async def _apply(self, conn: asyncpg.Connection, events: Sequence[ReceivedEvent]) -> None:
        batch = _Batch()
        # each event's data, id text and customer once (profiled: every one was asked for twice or more)
        decoded: list[tuple[datetime, str, ReceivedEvent, dict[str, Any], str | None]] = []
        for received in events:
            data = received.event.model_dump(mode="json")
            decoded.append((received.time, str(received.event_id), received, data, _customer_of(received, data)))
        decoded.sort(key=_by_time_and_id)
        origins = {item[4] for item in decoded if item[4]}
        aliases = await rm.aliases_of(conn, origins) if origins else {}

        for at, event_id, received, data, origin in decoded:
            if received.event_type in KPI_EVENT_TYPES:
                collect_kpis(batch, received, data, origin)
            if origin is None:
                continue
            if received.event_type == "CustomersMerged":
                duplicate = str(data["duplicate_id"])
                await rm.set_alias(conn, duplicate, origin)
                batch.moves.append((duplicate, origin))
                aliases[duplicate] = origin
                for other, survivor in list(aliases.items()):  # as set_alias repoints the table
                    if survivor == duplicate:
                        aliases[other] = origin
                batch.refold.update({origin, duplicate})
                batch.merged_into[duplicate] = origin
            elif received.event_type == "CustomersUnmerged":
                duplicate = str(data["duplicate_id"])
                await rm.drop_alias(conn, duplicate)
                batch.moves.append((duplicate, None))
                aliases.pop(duplicate, None)
                batch.refold.update({origin, duplicate})
                batch.merged_into[duplicate] = None
            elif received.event_type == "CustomerErased":
                batch.erased.add(origin)
                batch.erasure_ids[origin] = event_id
            owner = aliases.get(origin, origin)
            (batch.imported if is_imported_history(received.envelope) else batch.live).add(owner)
            fact = Fact(event_id, received.event_type, at, data, origin)
            batch.facts.setdefault(owner, []).append(fact)
            batch.timeline.append(
                (event_id, owner, origin, received.event_type, received.event.domain, at, data,
                 received.envelope.correlation_id)
            )

        fresh = await rm.record_events(conn, batch.timeline)
        # Moved after recording: the duplicate's events earlier in this very batch were recorded as
        # its own, and must follow it to the survivor like the ones stored before (a rebuild's batch
        # holds a duplicate's whole history and its merge).
        for duplicate, target in batch.moves:
            if target is None:
                await rm.move_back(conn, duplicate)
            else:
                await rm.move_to_survivor(conn, duplicate, target)
        for owner, facts in list(batch.facts.items()):
            batch.facts[owner] = [f for f in facts if f.event_id in fresh]
        await self._forget_erased(conn, batch)

        owners = {o for o, facts in batch.facts.items() if facts} | batch.refold | set(batch.merged_into)
        if owners:
            await self._fold_and_write(conn, batch, owners)
        await write_kpis(conn, batch)
        await rm.forget_nps_reasons(conn, batch.forgotten)  # after write_kpis: a reason in this batch goes too
        self._batches += 1
        if self._batches % COMPACT_EVERY == 0:
            await rm.compact_co_purchases(conn)

    async def _forget_erased(self, conn: asyncpg.Connection, batch: _Batch) -> None:
        """Right to be forgotten, analytics' part, in the batch's transaction.

        Redacts the stored timeline of customers erased in this batch, of customers erased earlier
        whose events arrive late (another topic may lag behind ``customer.events``), and of the
        duplicates merged into either; then acknowledges each new erasure with ``CustomerDataErased``.
        """
        owners = {row[1] for row in batch.timeline}
        erased = set(batch.erased) | (await rm.erased_people(conn, owners) if owners else set())
        if not erased:
            return
        people = erased | await rm.duplicates_of(conn, erased)
        await rm.redact_events(conn, people, _personal_fields())
        batch.forgotten |= people
        if self.store is None:  # a rebuild replays history; the erasure was acknowledged live
            return
        await rm.forget_published_recommendations(conn, people)
        for origin in batch.erased:
            await acknowledge_erasure(self.store, conn, customer_id=origin, service="analytics",
                                      erased_at=datetime.now(UTC), erasure_event_id=batch.erasure_ids[origin])

    async def _fold_and_write(self, conn: asyncpg.Connection, batch: _Batch, owners: set[str]) -> None:
        cache = self.cache
        locked = await rm.lock_views(conn, owners, cache.revisions(owners))
        stored: dict[str, tuple[State, CachedState | None]] = {}
        for owner, row in locked.items():
            if row.state is not None:
                stored[owner] = (row.state, None)
                cache.misses += 1
                continue
            entry = cache.get(owner)
            if entry is None:  # cannot happen: a revision we sent is one we hold
                raise RuntimeError(f"view {owner} was not loaded and is not cached")
            stored[owner] = (entry.state, entry)
            cache.hits += 1
        refold = set(batch.refold)
        for owner in owners:
            facts = batch.facts.get(owner, [])
            old_state = stored[owner][0] if owner in stored else None
            if facts and old_state is not None and old_state["key"] is not None:
                first = min(fact.sort_key for fact in facts)
                if first <= tuple(old_state["key"]):
                    refold.add(owner)
        histories = await rm.load_histories(conn, refold) if refold else {}

        folded: list[tuple[str, State, str | None, int, CachedState | None]] = []
        signals: dict[str, list[DomainEvent]] = {}
        recompute: dict[str, tuple[State, list[str]]] = {}
        skus_before_after: list[tuple[list[str], list[str]]] = []
        now = datetime.now(UTC)
        for owner in sorted(owners):
            old = locked.get(owner)
            old_state, entry = stored.get(owner, (None, None))
            # the stored (or cached) state is folded in place: keep what the signals and the
            # co-purchase deltas compare against first
            before = None
            if old_state is not None and self.store is not None:
                # the cached parts already hold the traits as stored: parsing them back is cheaper than a copy
                traits = entry.parts.get("traits") if entry is not None else None
                before = {"traits": orjson.loads(b"{" + traits + b"}")["traits"] if traits
                          else orjson.loads(orjson.dumps(old_state["traits"]))}
            owned_before = model.owned_products(old_state) if old_state is not None else []
            if owner in refold:
                state = model.fold(owner, histories.get(owner, []), self.rules)
            else:
                facts = batch.facts.get(owner, [])
                state = model.project(old_state, owner, facts, list, self.rules, in_place=True)
            merged_into = batch.merged_into.get(owner, old.merged_into if old else None)
            owned_after = model.owned_products(state)
            if self.store is not None and merged_into is None:
                signals[owner] = changes(before, state, now=now, provenance_limit=self.rules.provenance_limit)
                if state["status"] != "erased" and (owned_before != owned_after or owner in batch.refold):
                    recompute[owner] = (state, owned_after)
            skus_before_after.append((owned_before, owned_after))
            folded.append((owner, state, merged_into, old.signal_version if old else 0, entry))
        await rm.add_co_purchases(conn, _new_pairs(skus_before_after))
        if recompute:
            for owner, signal in (await self._recommendations(conn, recompute, now)).items():
                signals[owner].append(signal)

        rows: list[rm.ViewRow] = []
        appends: list[SignalAppend] = []
        parts_of: dict[str, dict[str, bytes]] = {}
        for owner, state, merged_into, version, entry in folded:
            emitted = signals.get(owner, [])
            if emitted:
                appends.append(SignalAppend(signal_stream(owner), SIGNAL_STREAM_TYPE, owner, version, emitted,
                                            history=owner in batch.imported - batch.live))
            parts = parts_of[owner] = serialise(state)
            if entry is not None:
                # only the keys that changed travel and are parsed: the row holds the rest (verified)
                delta = delta_json(parts, entry.parts) or "{}"
                rows.append(view_row(state, merged_into=merged_into, signal_version=version + len(emitted),
                                     delta=delta))
            else:
                rows.append(view_row(state, merged_into=merged_into, signal_version=version + len(emitted),
                                     state_json=whole_json(parts)))
        revisions = await rm.write_views(conn, rows)
        for owner, state, _, _, _ in folded:
            revision = revisions.get(owner)
            if revision is None:
                cache.drop([owner])
            else:
                cache.put(owner, CachedState(revision, state, parts_of[owner]))
        if appends and self.store is not None:
            await append_signals(conn, appends, service=self.store.service, topic=self.store.topic)

    async def _recommendations(
        self, conn: asyncpg.Connection, customers: dict[str, tuple[State, list[str]]], now: datetime
    ) -> dict[str, DomainEvent]:
        """``RecommendationsChanged`` of the customers whose purchases changed in this batch.

        Batched like the rest of the projector: one co-purchase query for every touched customer's
        skus (the table as it stands in this transaction, this batch's pairs included), one read and
        one write of what was last published. The formula and limit are the 360 view's.
        """
        skus = sorted({sku for _, owned in customers.values() for sku in owned})
        co = await rm.co_purchases_for(conn, skus) if skus else {}
        published = await rm.published_recommendations(conn, customers)
        emitted: dict[str, DomainEvent] = {}
        remembered: list[tuple[str, list[str]]] = []
        for owner, (state, owned) in customers.items():
            recommended = f.recommend(owned, co, self.rules.recommendations_limit)
            signal = recommendations_change(
                state, published.get(owner, []), recommended, provenance_limit=self.rules.provenance_limit, now=now
            )
            if signal is not None:
                emitted[owner] = signal
                remembered.append((owner, [product.sku for product in signal.recommendations]))
        await rm.remember_published_recommendations(conn, remembered)
        return emitted

KPI_EVENT_TYPES = frozenset({
    "SurveyAnswered", "SurveyQuestionAnswered", "TicketOpened", "SlaBreached", "TicketTransferred", "TicketResolved",
    "CampaignCreated", "CampaignUpdated", "OfferSent", "MessageSent", "HeldOut", "OfferRedeemed", "OrderPlaced",
})
"""The event types ``collect_kpis`` takes facts from (the projector skips the call for the others)."""


def collect_kpis(batch: _Batch, received: KpiSource, data: dict[str, Any], customer: str | None) -> None:
    """Add the KPI facts of one event to the batch (the live projector and the set-based rebuild)."""
    kind = received.event_type
    if kind == "SurveyAnswered" and customer:
        batch.surveys.append(
            (received.event_id, customer, data.get("kind") or "nps", int(data["score"]), received.time)
        )
    elif kind == "SurveyQuestionAnswered" and customer:
        reason = nps_reason(received, data, customer)
        if reason is not None:
            batch.reasons.append(reason)
    elif kind in ("TicketOpened", "SlaBreached", "TicketTransferred", "TicketResolved"):
        row: dict[str, Any] = {
            "ticket_id": rm.uuid_or_none(data.get("ticket_id")),
            "customer_id": rm.uuid_or_none(customer),
        }
        if row["ticket_id"] is None:
            return
        if kind == "TicketOpened":
            row.update(kind=data.get("kind"), opened_at=_when(data, "opened_at") or received.time)
        elif kind == "SlaBreached":
            row["sla_breached"] = True
        elif kind == "TicketTransferred":
            row["transfers"] = int(data.get("transfer_count") or 1)
        else:
            row.update(
                resolved_at=_when(data, "resolved_at") or received.time,
                first_response_seconds=data.get("time_to_first_response_seconds"),
                resolution_seconds=data.get("time_to_resolve_seconds"),
                transfers=int(data.get("transfer_count") or 0),
                sla_breached=bool(data.get("sla_breached")),
                fcr=bool(data.get("first_contact_resolution")),
                root_cause=data.get("root_cause"),
            )
        batch.tickets.append(row)
    elif kind in ("CampaignCreated", "CampaignUpdated") and data.get("campaign_id"):
        definition = data.get("definition") or {}
        batch.campaigns.append(
            {
                "campaign_id": data["campaign_id"],
                "name": data.get("name") or definition.get("name"),
                "objective": data.get("objective") or definition.get("objective"),
            }
        )
    elif kind in ("OfferSent", "MessageSent") and data.get("campaign_id"):
        batch.campaigns.append(
            {
                "campaign_id": data["campaign_id"],
                "sends": 1,
                "send_cost": Decimal(str(data.get("cost") or 0)),
                "send_at": received.time,
                "at": received.time,
            }
        )
    elif kind == "HeldOut" and data.get("campaign_id") and customer:
        batch.campaigns.append({"campaign_id": data["campaign_id"], "held_out": 1, "at": received.time})
        batch.holdouts.append((data["campaign_id"], customer, received.time))
    elif kind == "OfferRedeemed" and data.get("campaign_id"):
        batch.campaigns.append(
            {
                "campaign_id": data["campaign_id"],
                "redemptions": 1,
                "redemption_revenue": Decimal(str(data.get("total") or 0)),
                "redemption_margin": Decimal(str(data.get("margin") or 0)),
                "at": received.time,
            }
        )
    elif kind == "OrderPlaced" and customer:
        batch.orders.append((customer, received.time))

def nps_reason(received: KpiSource, data: dict[str, Any], customer: str) -> tuple[Any, ...] | None:
    """The terms of an NPS reason answer, or None for any other answer or a reason analytics cannot open.

    The consumer kit opened ``text`` with the campaigns service's key (``None`` when there is no key or
    it was destroyed by an erasure): only the terms are kept, never the text.
    """
    if (data.get("question_kind") != "text" or data.get("survey_kind") != "nps"
            or data.get("nps_category") not in ("promoter", "passive", "detractor")):
        return None
    text = data.get("text")
    if not isinstance(text, str) or text.startswith(model.ENCRYPTED_PREFIX):
        return None
    return (received.event_id, customer, received.time, data["nps_category"], reason_terms(text))


async def write_kpis(conn: asyncpg.Connection, batch: _Batch) -> None:
    """The batch's KPI facts, one set-based statement per table."""
    await rm.record_survey_answers(conn, batch.surveys)
    await rm.record_nps_reasons(conn, batch.reasons)
    await rm.record_ticket_facts(conn, _merge_ticket_rows(batch.tickets))
    await rm.record_campaign_stats(conn, batch.campaigns)
    await rm.record_campaign_days(conn, batch.campaigns)
    await rm.record_holdouts(conn, batch.holdouts)
    await rm.convert_holdouts(conn, batch.orders)


def _merge_ticket_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per ticket (an upsert may touch a row once per statement), merged like the SQL merges."""
    merged: dict[Any, dict[str, Any]] = {}
    for row in rows:
        current = merged.setdefault(row["ticket_id"], {})
        for name, value in row.items():
            if value is None:
                continue
            if name == "transfers":
                current[name] = max(current.get(name, 0), value)
            elif name == "sla_breached":
                current[name] = current.get(name, False) or value
            else:
                current[name] = value
    return list(merged.values())


def _new_pairs(before_after: Sequence[tuple[list[str], list[str]]]) -> list[tuple[str, str, int]]:
    """Co-purchase deltas: +1 for each pair a customer now owns and did not, -1 for each it no longer owns.

    Counting the difference of the pair sets (not only additions) keeps the table equal to "customers
    owning both" whatever the order of placements and cancellations, so a rebuild gives the same counts.
    """
    deltas: list[tuple[str, str, int]] = []
    for before, after in before_after:
        old, new = set(before), set(after)
        if old == new:
            continue
        old_pairs = {(a, b) for a in old for b in old if a != b}
        new_pairs = {(a, b) for a in new for b in new if a != b}
        deltas.extend((a, b, 1) for a, b in new_pairs - old_pairs)
        deltas.extend((a, b, -1) for a, b in old_pairs - new_pairs)
    return deltas


_PERSONAL: dict[str, list[str]] = {}


def _personal_fields() -> dict[str, list[str]]:
    """Personal fields of every customer-level event type in the catalog (for erasure)."""
    if not _PERSONAL:
        for event_model in CATALOG:
            fields = sorted(event_model.personal_fields())
            if fields:
                _PERSONAL[event_model.event_type] = fields
    return _PERSONAL
