"""Provenance, time-driven traits, merges over time and the signals a change produces (pure)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from services.analytics.application.views import render
from services.analytics.domain.model import aliases_at, evaluate, fold, project, provenance_of
from services.analytics.domain.rules import AnalyticsRules
from services.analytics.domain.signals import changes
from shared.contracts.customer import CustomersMerged, CustomersUnmerged
from tests.analytics.builders import (
    at,
    complaint_filed,
    fact,
    new_customer_id,
    offer_sent,
    order_placed,
    registered,
    survey_answered,
)

RULES = AnalyticsRules()


def test_provenance_is_the_most_recent_events_by_time_not_by_id() -> None:
    cid = new_customer_id()
    # ids sort the other way round from the times: the newest complaint has the smallest id
    complaints = [
        replace(complaint_filed(cid, str(uuid.uuid4()), at(day)), event_id=str(uuid.UUID(int=5 - day)))
        for day in (1, 2, 3, 4)
    ]
    state = fold(cid, [registered(cid, at(0)), *complaints], RULES)
    assert provenance_of(state, "serial_complainer", 2) == [complaints[2].event_id, complaints[3].event_id]


def test_provenance_limit_is_the_rule_not_a_constant() -> None:
    cid = new_customer_id()
    complaints = [complaint_filed(cid, str(uuid.uuid4()), at(0, hours)) for hours in range(15)]
    wide = AnalyticsRules(provenance_limit=12)
    narrow = AnalyticsRules(provenance_limit=2)
    segment = {
        rules.provenance_limit: next(
            s for s in render(fold(cid, complaints, rules), now=at(1), rules=rules)["segments"]
            if s["segment"] == "serial_complainer"
        )
        for rules in (wide, narrow)
    }
    assert len(segment[12]["provenance"]) == 3  # the segment was entered at the third complaint
    assert segment[2]["provenance"] == [complaints[1].event_id, complaints[2].event_id]
    late = render(fold(cid, complaints, wide), now=at(1), rules=wide)
    assert late["risk"]["provenance"] == [c.event_id for c in complaints[:1]]  # churn band set at the first


def test_every_computed_trait_names_the_events_that_drove_it() -> None:
    cid = new_customer_id()
    facts = [
        registered(cid, at(0)),
        order_placed(cid, at(1), total="20000.00", margin="9000.00"),
        survey_answered(cid, 1, at(2)),
        *(complaint_filed(cid, str(uuid.uuid4()), at(2, n)) for n in (1, 2, 3)),
    ]
    view = render(fold(cid, facts, RULES), now=at(3), rules=RULES)
    registration, order, survey, *complaints = (f.event_id for f in facts)
    assert set(view["lifecycle_stage"]["provenance"]) == {registration, order}
    assert set(view["value"]["provenance"]) == {registration, order}
    # the band turned medium at the third complaint (detractor 0.20 + complaints 0.20)
    assert view["risk"]["churn_band"] == "medium"
    assert set(view["risk"]["provenance"]) == {order, survey, *complaints}
    segments = {s["segment"]: set(s["provenance"]) for s in view["segments"]}
    assert segments == {"high_value": {registration, order}, "serial_complainer": set(complaints)}


def test_dissolution_for_inactivity_dates_from_the_threshold_whoever_notices() -> None:
    cid = new_customer_id()
    facts = [registered(cid, at(0)), order_placed(cid, at(1))]
    expected = "2027-01-02T09:00:00.000000Z"  # the order (day 1) + 365 days
    by_sweep = [
        evaluate(fold(cid, facts, RULES), at(1) + timedelta(days=days), RULES)["traits"]["lifecycle"]
        for days in (365, 366, 400)
    ]
    assert [(t["stage"], t["since"]) for t in by_sweep] == [("dissolution", expected)] * 3
    # an offer is not the customer's activity: folding it later finds the same instant
    later = fold(cid, [*facts, offer_sent(cid, at(1) + timedelta(days=420))], RULES)
    assert (later["traits"]["lifecycle"]["stage"], later["traits"]["lifecycle"]["since"]) == ("dissolution", expected)


def test_aliases_follow_merges_chains_and_unmerges_in_time_order() -> None:
    a, b, c = new_customer_id(), new_customer_id(), new_customer_id()
    b_into_a = fact(CustomersMerged(customer_id=a, duplicate_id=b, merged_at=at(1)), at(1))
    a_into_c = fact(CustomersMerged(customer_id=c, duplicate_id=a, merged_at=at(2)), at(2))
    a_back = fact(CustomersUnmerged(customer_id=c, duplicate_id=a, unmerged_at=at(3)), at(3))
    assert aliases_at([b_into_a]) == {b: a}
    assert aliases_at([a_into_c, b_into_a]) == {b: c, a: c}
    assert aliases_at([a_back, b_into_a, a_into_c]) == {b: c}


def test_signals_for_exits_and_churn_bands_once_and_none_for_a_flip_back() -> None:
    cid = new_customer_id()
    base = [registered(cid, at(0)), order_placed(cid, at(1), total="100.00", margin="-50.00")]
    before = fold(cid, base, RULES)
    assert "loss_making" in before["traits"]["segments"]
    recovered = project(before, cid, [order_placed(cid, at(2), total="500.00", margin="200.00")], list, RULES)
    exits = changes(before, recovered, now=at(2))
    assert [(e.event_type, getattr(e, "segment", None)) for e in exits] == [
        ("SegmentExited", "loss_making"),
        ("LifecycleStageChanged", None),
    ]
    assert exits[0].since.isoformat().startswith("2026-01-02")

    unhappy = project(
        recovered,
        cid,
        [complaint_filed(cid, str(uuid.uuid4()), at(3, n)) for n in range(3)] + [survey_answered(cid, 0, at(3, 4))],
        list,
        RULES,
    )
    churn = [e for e in changes(recovered, unhappy, now=at(3)) if e.event_type == "ChurnRiskChanged"]
    assert [(e.from_band, e.to_band) for e in churn] == [("low", "medium")]  # type: ignore[attr-defined]
    assert set(churn[0].factors) == {"complaints", "detractor"}  # type: ignore[attr-defined]
    assert changes(unhappy, unhappy, now=at(4)) == []

    # within one batch: a loss, then a profit that makes up for it; the segment came and went
    flip = [order_placed(cid, at(5), total="10.00", margin="-900.00"), order_placed(cid, at(5, 1), margin="950.00")]
    after_flip = project(unhappy, cid, flip, list, RULES)
    assert "loss_making" not in after_flip["traits"]["segments"]
    assert not [e for e in changes(unhappy, after_flip, now=at(5)) if getattr(e, "segment", None) == "loss_making"]


def test_a_return_after_a_year_away_keeps_the_dissolution_episode_whether_or_not_a_sweep_saw_it() -> None:
    cid = new_customer_id()
    history = [registered(cid, at(0)), order_placed(cid, at(1))]
    comeback = order_placed(cid, at(1) + timedelta(days=400))
    swept = evaluate(fold(cid, history, RULES), at(1) + timedelta(days=370), RULES)
    live = project(swept, cid, [comeback], list, RULES)
    refolded = fold(cid, [*history, comeback], RULES)  # a rebuild: no sweep in between
    episode = [["2027-01-02T09:00:00.000000Z", "2027-02-06T09:00:00.000000Z"]]
    assert live["traits"]["dissolutions"] == refolded["traits"]["dissolutions"] == episode
    assert refolded["traits"]["lifecycle"]["stage"] == live["traits"]["lifecycle"]["stage"] == "expansion"
