"""Derived signals: what changed between two states of a customer, as ``analytics.events``.

The projector compares the traits stored before a batch with the traits after it and publishes one
event per change, in the same transaction as the read-model write, so each change is published
exactly once whatever Kafka redelivers (a redelivered event is not applied again, so it changes
nothing). A trait that flips and flips back inside one batch changed nothing observable: no signal.

Recommendations are compared with the list analytics last *published* for the customer (not with
the stored traits): they depend on every customer's purchases, so only the published list says
what subscribers believe. An unchanged list, or a redelivered order, publishes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from services.analytics.domain.model import State, parse_iso, provenance_of, recent_drivers
from shared.contracts.analytics import (
    ChurnRiskChanged,
    LifecycleStageChanged,
    RecommendationsChanged,
    RecommendedProduct,
    SegmentEntered,
    SegmentExited,
    ValueTierChanged,
)
from shared.events.catalog import DomainEvent

RECOMMENDATIONS_RULE = "recommendations.co_purchase"
"""The rule id of ``RecommendationsChanged`` (docs/analytics-rules.md, Recommendations)."""


def _uuids(ids: list[str]) -> list[UUID]:
    result = []
    for value in ids:
        try:
            result.append(UUID(value))
        except ValueError:
            continue
    return result


def _moment(value: str | None, fallback: datetime) -> datetime:
    return parse_iso(value) if value else fallback


def changes(before: State | None, after: State, *, now: datetime, provenance_limit: int = 10) -> list[DomainEvent]:
    """The signals that turn ``before``'s traits into ``after``'s (``before`` None: a new customer).

    ``provenance_limit`` (``AnalyticsRules.provenance_limit``) bounds the provenance of an exit, the
    one signal whose drivers are read now rather than kept with the trait.
    """
    customer = UUID(after["customer_id"])
    old: dict[str, Any] = (
        before["traits"] if before else {"segments": {}, "lifecycle": None, "churn": None, "tier": None}
    )
    new: dict[str, Any] = after["traits"]
    events: list[DomainEvent] = []

    for name in sorted(set(old["segments"]) - set(new["segments"])):
        gone = old["segments"][name]
        events.append(
            SegmentExited(
                customer_id=customer,
                segment=name,
                rule=gone["rule"],
                reason=f"no longer matches {gone['rule']}",
                provenance=_uuids(provenance_of(after, name, provenance_limit)),
                decided_at=_moment(after["last_event_at"], now),
                since=_moment(gone["since"], now),
            )
        )
    for name in sorted(set(new["segments"]) - set(old["segments"])):
        entered = new["segments"][name]
        events.append(
            SegmentEntered(
                customer_id=customer,
                segment=name,
                rule=entered["rule"],
                reason=f"matches {entered['rule']}",
                provenance=_uuids(entered["provenance"]),
                decided_at=_moment(entered["since"], now),
            )
        )

    old_stage = old["lifecycle"]["stage"] if old["lifecycle"] else None
    if new["lifecycle"] and new["lifecycle"]["stage"] != old_stage:
        stage = new["lifecycle"]
        events.append(
            LifecycleStageChanged(
                customer_id=customer,
                from_stage=old_stage,
                to_stage=stage["stage"],
                rule=stage["rule"],
                reason=f"{old_stage or 'new'} -> {stage['stage']} by {stage['rule']}",
                provenance=_uuids(stage["provenance"]),
                decided_at=_moment(stage["since"], now),
            )
        )

    old_band = old["churn"]["band"] if old["churn"] else "low"  # a new customer starts at low risk
    if new["churn"] and new["churn"]["band"] != old_band:
        churn = new["churn"]
        events.append(
            ChurnRiskChanged(
                customer_id=customer,
                from_band=old_band,  # type: ignore[arg-type]  # a band from our own rules
                to_band=churn["band"],
                score=Decimal(churn["score"]),
                factors={k: Decimal(v) for k, v in churn["factors"].items()},
                rule="churn.weighted_factors",
                reason=", ".join(sorted(churn["factors"])) or "no risk factors",
                provenance=_uuids(churn["provenance"]),
                decided_at=_moment(churn["since"], now),
            )
        )

    old_tier = old["tier"]["tier"] if old["tier"] else "bronze"  # and in the lowest tier
    if new["tier"] and new["tier"]["tier"] != old_tier:
        tier = new["tier"]
        events.append(
            ValueTierChanged(
                customer_id=customer,
                from_tier=old_tier,  # type: ignore[arg-type]  # a tier from our own rules
                to_tier=tier["tier"],
                clv=Decimal(tier["clv"]),
                rule="value_tier.clv_historic",
                reason=f"historic CLV {tier['clv']}",
                provenance=_uuids(tier["provenance"]),
                decided_at=_moment(tier["since"], now),
            )
        )
    return events


def recommendations_change(
    after: State,
    published: Sequence[str],
    recommended: Sequence[Mapping[str, Any]],
    *,
    provenance_limit: int,
    now: datetime,
) -> RecommendationsChanged | None:
    """The signal for a customer whose recommendations were recomputed; None when the skus did not change.

    ``published`` is the ordered skus last published (empty when none was), ``recommended`` what
    ``formulas.recommend`` answers now. Only the skus and their order count as a change: a score that
    moves while the ranking stays is not news to a campaign. The provenance is the customer's most
    recent order events, which are what recomputed the list.
    """
    skus = [str(item["sku"]) for item in recommended]
    if skus == list(published):
        return None
    products = [
        RecommendedProduct(sku=str(item["sku"]), score=int(item["score"]), because_of=item.get("because_of"))
        for item in recommended
    ]
    if products:
        best = products[0]
        reason = f"{best.sku} first: bought by {best.score} customers together with what the customer owns"
    else:
        reason = "nothing left to recommend"
    return RecommendationsChanged(
        customer_id=UUID(after["customer_id"]),
        recommendations=products,
        previous_skus=list(published),
        rule=RECOMMENDATIONS_RULE,
        reason=reason,
        provenance=_uuids(recent_drivers(after, ("orders",), provenance_limit)),
        decided_at=_moment(after["last_event_at"], now),
    )
