"""Consent-safe identity: merging never widens consent, duplicate rules as data, verified identities."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.customer.domain.identity import DuplicateRules, check_rules, suggest
from services.customer.domain.model import Customer, Identity, name_similarity
from shared.contracts.customer import (
    ContactChannel,
    ContactPreferencesChanged,
    ContactVerified,
    CustomersMerged,
    CustomersUnmerged,
    DuplicateRulesChanged,
    DuplicateRuleSet,
)
from shared.errors import Conflict, InvalidInput
from shared.ids import new_id

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Recorded:
    """A customer and every event it recorded, so a test can replay its stream like a reload does."""

    def __init__(self, **overrides: Any) -> None:
        self.history: list[Any] = []
        self.customer = Customer.rehydrate(self._registration(overrides))

    def _registration(self, overrides: dict[str, Any]) -> list[Any]:
        fresh = Customer.register(
            customer_id=new_id(),
            name=overrides.get("name", "Ayşe Demir"),
            email=f"ayse.{new_id().hex[-12:]}@example.com",
            now=NOW - timedelta(days=30),
            consents=overrides.get("consents"),
            birth_date=overrides.get("birth_date"),
            phone=overrides.get("phone"),
        )
        self.history = fresh.pull_events()
        return list(self.history)

    def take(self) -> list[Any]:
        """The events recorded since the last take (and keep them in the history)."""
        events = self.customer.pull_events()
        self.history += events
        return events

    def replayed(self) -> Customer:
        self.take()
        again = Customer.rehydrate(self.history)
        again.merged_into = self.customer.merged_into
        return again


def withdraw(person: Recorded, channel: ContactChannel, at: datetime) -> None:
    person.customer.change_consents({channel: False}, source="self_service", now=at)
    person.take()


ALL = ("email", "sms", "push", "phone")


def test_a_withdrawal_on_the_duplicate_wins_over_the_survivors_older_grant() -> None:
    survivor = Recorded(consents={"email": True, "sms": True})
    duplicate = Recorded(consents={"email": True, "sms": True})
    withdraw(duplicate, "email", NOW - timedelta(days=2))
    survivor.customer.merge(duplicate.customer, reason="same person", by="agent", now=NOW)
    merged, *changes = survivor.take()
    assert isinstance(merged, CustomersMerged)
    email = next(c for c in merged.consents if c.channel == "email")
    assert (email.survivor, email.duplicate, email.after, email.winner) == (True, False, False, "duplicate")
    assert email.duplicate_set_at == NOW - timedelta(days=2)
    assert email.survivor_set_at == NOW - timedelta(days=30)
    assert {c.channel: c.winner for c in merged.consents} == {
        "email": "duplicate", "sms": "both", "push": "both", "phone": "both"
    }
    assert [(e.channel, e.granted, e.because, e.duplicate_id, e.source) for e in changes] == [
        ("email", False, "merge", duplicate.customer.id, "operator")
    ]
    expected = {"email": False, "sms": True, "push": False, "phone": False}
    assert survivor.customer.consents == expected
    assert survivor.replayed().consents == expected


def test_a_withdrawal_on_the_survivor_wins_over_the_duplicates_newer_grant() -> None:
    survivor = Recorded(consents={"sms": True})
    duplicate = Recorded()
    withdraw(survivor, "sms", NOW - timedelta(days=10))
    duplicate.customer.change_consents({"sms": True}, source="self_service", now=NOW - timedelta(days=1))
    duplicate.take()
    survivor.customer.merge(duplicate.customer, reason="same person", by=None, now=NOW)
    merged, *changes = survivor.take()
    assert isinstance(merged, CustomersMerged)
    sms = next(c for c in merged.consents if c.channel == "sms")
    assert (sms.survivor, sms.duplicate, sms.after, sms.winner) == (False, True, False, "survivor")
    assert changes == []  # the survivor's consent did not change, so nothing is re-announced
    assert survivor.customer.consents["sms"] is False


def test_merge_never_widens_any_channel() -> None:
    for mine in (False, True):
        for theirs in (False, True):
            survivor = Recorded(consents=dict.fromkeys(ALL, mine))
            duplicate = Recorded(consents=dict.fromkeys(ALL, theirs))
            survivor.customer.merge(duplicate.customer, reason="dup", by=None, now=NOW)
            assert survivor.customer.consents == dict.fromkeys(ALL, mine and theirs)
            assert survivor.replayed().consents == dict.fromkeys(ALL, mine and theirs)
            assert duplicate.customer.consents == dict.fromkeys(ALL, theirs)  # its own record is untouched


def test_unmerge_gives_the_survivor_back_exactly_its_own_consents() -> None:
    survivor = Recorded(consents={"email": True, "sms": True, "push": True})
    duplicate = Recorded(consents={"email": False, "sms": True, "push": False})
    survivor.customer.merge(duplicate.customer, reason="dup", by=None, now=NOW)
    survivor.take()
    reloaded = survivor.replayed()
    reloaded.unmerge(duplicate.customer, reason="two people", by=None, now=NOW + timedelta(hours=1))
    unmerged, *changes = reloaded.pull_events()
    assert isinstance(unmerged, CustomersUnmerged)
    assert [(c.channel, c.before, c.after) for c in unmerged.consents_restored] == [
        ("email", False, True), ("push", False, True)
    ]
    assert [(e.channel, e.granted, e.because) for e in changes if isinstance(e, ContactPreferencesChanged)] == [
        ("email", True, "unmerge"), ("push", True, "unmerge")
    ]
    assert reloaded.consents == {"email": True, "sms": True, "push": True, "phone": False}


def test_a_choice_made_after_the_merge_survives_the_unmerge() -> None:
    survivor = Recorded(consents={"email": True, "sms": True})
    duplicate = Recorded(consents={"email": False, "sms": True})
    survivor.customer.merge(duplicate.customer, reason="dup", by=None, now=NOW)
    survivor.take()
    # After the merge the person grants email again and withdraws sms on the merged profile.
    survivor.customer.change_consents({"email": True, "sms": False}, source="self_service",
                                      now=NOW + timedelta(days=1))
    survivor.take()
    survivor.customer.unmerge(duplicate.customer, reason=None, by=None, now=NOW + timedelta(days=2))
    unmerged = survivor.take()[0]
    assert isinstance(unmerged, CustomersUnmerged) and unmerged.consents_restored == []
    assert survivor.customer.consents["email"] is True and survivor.customer.consents["sms"] is False
    assert survivor.replayed().consents == survivor.customer.consents


def test_unmerging_one_duplicate_keeps_the_restrictions_of_another_still_merged() -> None:
    survivor = Recorded(consents={"email": True, "sms": True})
    no_email = Recorded(consents={"email": False, "sms": True})
    no_sms = Recorded(consents={"email": True, "sms": False})
    survivor.customer.merge(no_email.customer, reason="dup", by=None, now=NOW)
    survivor.customer.merge(no_sms.customer, reason="dup", by=None, now=NOW)
    survivor.take()
    survivor.customer.unmerge(no_email.customer, reason=None, by=None, now=NOW)
    assert survivor.customer.consents["email"] is True and survivor.customer.consents["sms"] is False
    assert survivor.replayed().consents == survivor.customer.consents


def test_two_verified_identities_are_never_merged_automatically() -> None:
    survivor, duplicate = Recorded(phone="+905551234567"), Recorded()
    survivor.customer.verify_contact("phone", method="code", by="agent", now=NOW)
    duplicate.customer.verify_contact("email", method="link", by=None, now=NOW)
    [verified] = survivor.take()
    assert isinstance(verified, ContactVerified) and survivor.replayed().is_verified
    with pytest.raises(Conflict, match="never merged automatically"):
        survivor.customer.merge(duplicate.customer, reason="dup", by=None, now=NOW, automatic=True,
                                confirm_verified_identities=True)
    with pytest.raises(Conflict, match="confirm_verified_identities") as refused:
        survivor.customer.merge(duplicate.customer, reason="dup", by=None, now=NOW)
    assert refused.value.extra["duplicate_verified"] == ["email"]
    assert survivor.customer.pending == [] and duplicate.customer.merged_into is None
    survivor.customer.merge(duplicate.customer, reason="dup", by=None, now=NOW, confirm_verified_identities=True)
    merged = survivor.take()[0]
    assert isinstance(merged, CustomersMerged) and merged.verified_identities_confirmed


def test_one_verified_identity_merges_without_confirmation_even_automatically() -> None:
    survivor, duplicate = Recorded(), Recorded()
    survivor.customer.verify_contact("email", method=None, by=None, now=NOW)
    survivor.customer.merge(duplicate.customer, reason="dup", by=None, now=NOW, automatic=True)
    assert duplicate.customer.merged_into == survivor.customer.id


def test_a_changed_email_is_no_longer_verified_and_a_missing_phone_cannot_be() -> None:
    person = Recorded()
    person.customer.verify_contact("email", method="link", by=None, now=NOW)
    person.customer.verify_contact("email", method="link", by=None, now=NOW)
    assert len(person.take()) == 1  # verifying again records nothing
    person.customer.update_profile({"email": "new.address@example.com"}, now=NOW)
    assert not person.replayed().is_verified
    with pytest.raises(Conflict, match="no phone to verify"):
        person.customer.verify_contact("phone", method=None, by=None, now=NOW)


# --- duplicate rules ------------------------------------------------------------------------------


def identity(name: str, email: str, birth: date | None = None, phone: str | None = None) -> Identity:
    return Identity(name, email, phone, birth)


def test_name_similarity_ignores_word_order_accents_and_case() -> None:
    assert name_similarity("Doe Jane", "jane DOE") == 1.0
    assert name_similarity("Ayşe Demir", "AYSE  DEMIR") == 1.0
    score = name_similarity("Ali Can", "Ali Cen")
    assert score is not None and 0.85 <= score < 0.9
    assert name_similarity("Jane", None) is None


def test_the_name_threshold_decides_and_the_score_is_the_evidence() -> None:
    born = date(1990, 5, 1)
    left, right = identity("Ali Can", "a@example.com", born), identity("Ali Cen", "b@example.com", born)
    found = suggest(left, right, DuplicateRuleSet())
    assert found is not None and found.evidence == ["name", "birth_date"] and found.name_similarity == 0.8571
    assert suggest(left, right, DuplicateRuleSet(name_threshold=0.9)) is None
    assert suggest(left, right, DuplicateRuleSet(name=False)) is None
    # a similar name alone (no shared birth date) is not a pair
    assert suggest(identity("Ali Can", "a@example.com"), identity("Ali Can", "b@example.com"),
                   DuplicateRuleSet()) is None


def test_email_rules_choose_between_the_canonical_mailbox_and_the_exact_address() -> None:
    left = identity("Jane Doe", "jane.doe+shop@gmail.com")
    right = identity("J. Smith", "janedoe@googlemail.com")
    found = suggest(left, right, DuplicateRuleSet())
    assert found is not None and found.evidence == ["email"]
    assert suggest(left, right, DuplicateRuleSet(email_canonical=False)) is None
    assert suggest(left, right, DuplicateRuleSet(email=False)) is None


def test_phone_matches_in_e164() -> None:
    left = identity("A", "a@example.com", phone="+905551234567")
    right = identity("B", "b@example.com", phone="+905551234567")
    found = suggest(left, right, DuplicateRuleSet())
    assert found is not None and found.evidence == ["phone"]
    assert suggest(left, right, DuplicateRuleSet(phone=False)) is None


def test_rules_without_any_identifier_or_with_a_threshold_outside_0_1_are_refused() -> None:
    with pytest.raises(InvalidInput):
        check_rules(DuplicateRuleSet(email=False, phone=False, name=False))
    with pytest.raises(InvalidInput):
        check_rules(DuplicateRuleSet.model_construct(name_threshold=1.5))
    rules = DuplicateRules()
    with pytest.raises(InvalidInput):
        rules.replace(DuplicateRuleSet(email=False, phone=False, name=False), by="admin", now=NOW)
    assert rules.pending == []


def test_replacing_the_rules_records_who_and_when_and_the_same_rules_record_nothing() -> None:
    rules = DuplicateRules()
    rules.replace(DuplicateRuleSet(), by="admin", now=NOW)
    assert rules.pending == []
    rules.replace(DuplicateRuleSet(name_threshold=0.9, phone=False), by="admin", now=NOW)
    [changed] = rules.pull_events()
    assert isinstance(changed, DuplicateRulesChanged) and changed.changed_by == "admin"
    again = DuplicateRules.rehydrate([changed])
    assert again.rules.name_threshold == 0.9 and not again.rules.phone and again.version == 1
