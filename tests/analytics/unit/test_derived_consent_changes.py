"""A consent the customer service changed on its own (a merge narrowing it, an unmerge restoring it) is
honoured by the 360 but is not the customer's activity: recency, lifecycle and churn ignore it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from services.analytics.application.views import render
from services.analytics.domain.model import Fact, fold, is_activity
from services.analytics.domain.rules import AnalyticsRules
from shared.contracts import customer
from tests.analytics.builders import at, fact, new_customer_id, order_placed, registered

RULES = AnalyticsRules()


def consent_changed(
    cid: str, when: datetime, *, granted: bool, because: Literal["merge", "unmerge"] | None = None
) -> Fact:
    fields: dict[str, Any] = {"customer_id": cid, "channel": "email", "granted": granted, "changed_at": when,
                              "source": "self_service" if because is None else "operator"}
    if because is not None:
        fields.update(because=because, duplicate_id=uuid.uuid4())
    return fact(customer.ContactPreferencesChanged(**fields), when)


def view_of(facts: list[Fact], cid: str, now: datetime) -> dict[str, Any]:
    return render(fold(cid, facts, RULES), now=now, rules=RULES)


def test_only_the_persons_own_consent_change_is_activity() -> None:
    cid = new_customer_id()
    assert is_activity(consent_changed(cid, at(1), granted=False))
    assert not is_activity(consent_changed(cid, at(1), granted=False, because="merge"))
    assert not is_activity(consent_changed(cid, at(1), granted=True, because="unmerge"))
    assert is_activity(order_placed(cid, at(1)))


def test_a_merge_narrowing_consent_does_not_make_a_lapsed_customer_active() -> None:
    cid = new_customer_id()
    history = [registered(cid, at(0)), order_placed(cid, at(1))]
    # 300 days later an operator merges a duplicate that had withdrawn email: the survivor's email consent
    # narrows, and later an unmerge restores it. Neither is something the customer did.
    derived = [consent_changed(cid, at(300), granted=False, because="merge"),
               consent_changed(cid, at(330), granted=True, because="unmerge")]
    quiet = view_of(history, cid, now=at(400))
    merged = view_of(history + derived, cid, now=at(400))
    assert merged["lifecycle_stage"] == quiet["lifecycle_stage"]
    assert merged["lifecycle_stage"]["stage"] == "dissolution"
    # The same score, band and factors; only when the band was observed differs (the merge is an event).
    assert {k: v for k, v in merged["risk"].items() if k != "since"} == {
        k: v for k, v in quiet["risk"].items() if k != "since"
    }
    assert "inactivity" in merged["risk"]["factors"]
    assert merged["profile"]["consents"]["email"] is True  # the consent itself is still applied

    narrowed = view_of(history + derived[:1], cid, now=at(400))
    assert narrowed["profile"]["consents"]["email"] is False


def test_the_customers_own_consent_change_counts_as_activity() -> None:
    cid = new_customer_id()
    history = [registered(cid, at(0)), order_placed(cid, at(1))]
    own = view_of([*history, consent_changed(cid, at(300), granted=False)], cid, now=at(400))
    lapsed = view_of(history, cid, now=at(400))
    assert lapsed["lifecycle_stage"]["stage"] == "dissolution"
    assert own["lifecycle_stage"]["stage"] != "dissolution"
    assert own["risk"]["factors"].get("inactivity", 0) < lapsed["risk"]["factors"]["inactivity"]
