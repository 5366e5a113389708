"""Duplicate detection as data: the rules that suggest two customer records are one person.

Pure Python: no I/O. The rules are one small event-sourced aggregate (stream ``duplicate-rules``) so
every change says who made it and when, and a suggested pair carries the evidence the rules found
(which identifiers matched, and how similar the names are) for the operator who decides to merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from services.customer.domain.model import Identity, canonical_email, name_similarity
from shared.contracts.customer import DuplicateRulesChanged, DuplicateRuleSet, MatchEvidence
from shared.errors import InvalidInput
from shared.store.aggregate import Aggregate

RULES_STREAM: Final = "duplicate-rules"
"""The one stream (and event subject) of the duplicate rules."""


def check_rules(rules: DuplicateRuleSet) -> None:
    """Refuse a rule set that cannot suggest anything or whose threshold is not a similarity (422)."""
    if not (rules.email or rules.phone or rules.name):
        raise InvalidInput("at least one identifier (email, phone or name) must be enabled", field="rules")
    if not 0 <= rules.name_threshold <= 1:
        raise InvalidInput("name_threshold is a similarity between 0 and 1", field="name_threshold")


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    """Why two records were suggested as one person: the identifiers that matched and the name score."""

    evidence: list[MatchEvidence]
    name_similarity: float | None


def suggest(left: Identity, right: Identity, rules: DuplicateRuleSet) -> DuplicateMatch | None:
    """The evidence that makes ``left`` and ``right`` a suggested pair under ``rules``, or ``None``.

    Email and phone match on their own. A similar name is weak evidence (two people share a name), so
    it makes a pair only together with the same birth date; alongside an email or phone match it is
    listed as supporting evidence. ``name_similarity`` is the score whether or not it reached the threshold.
    """
    evidence: list[MatchEvidence] = []
    if rules.email and left.email and right.email:
        same = (
            canonical_email(left.email) == canonical_email(right.email)
            if rules.email_canonical
            else left.email == right.email
        )
        if same:
            evidence.append("email")
    if rules.phone and left.phone and right.phone and left.phone == right.phone:
        evidence.append("phone")
    score = name_similarity(left.name, right.name)
    if rules.name and score is not None and score >= rules.name_threshold:
        evidence.append("name")
    if left.birth_date is not None and left.birth_date == right.birth_date:
        evidence.append("birth_date")
    strong = "email" in evidence or "phone" in evidence
    if not strong and not {"name", "birth_date"} <= set(evidence):
        return None
    return DuplicateMatch(evidence, score)


class DuplicateRules(Aggregate):
    """The current duplicate rules; the defaults hold until the first change."""

    rules: DuplicateRuleSet

    def _initial_state(self) -> None:
        self.rules = DuplicateRuleSet()

    def replace(self, rules: DuplicateRuleSet, *, by: str | None, now: datetime) -> None:
        """Replace the whole rule set; the same rules again record nothing."""
        check_rules(rules)
        if rules != self.rules:
            self._record(DuplicateRulesChanged(rules=rules, changed_by=by, changed_at=now))

    def _on_DuplicateRulesChanged(self, e: DuplicateRulesChanged) -> None:  # noqa: N802
        self.rules = e.rules
