"""Survey answers and offer redemptions: the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.campaigns.domain.surveys import IssuedOffer, SurveyState, answer_survey, judge_redemption
from shared.contracts.campaigns import InvalidRedemptionReason, NpsCategory, SurveyKind
from shared.errors import Conflict, Forbidden, Gone, InvalidInput

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def a_survey(**overrides: object) -> SurveyState:
    values: dict[str, object] = {"survey_id": "s-1", "customer_id": "u-1", "kind": SurveyKind.NPS,
                                 "token": "tok", "expires_at": NOW + timedelta(days=1)}
    values.update(overrides)
    return SurveyState(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("score", "category"), [(10, NpsCategory.PROMOTER), (9, NpsCategory.PROMOTER),
                                                 (8, NpsCategory.PASSIVE), (7, NpsCategory.PASSIVE),
                                                 (6, NpsCategory.DETRACTOR), (0, NpsCategory.DETRACTOR)])
def test_an_nps_answer_carries_its_category(score: int, category: NpsCategory) -> None:
    answered = answer_survey(a_survey(), token="tok", score=score, comment="fine", now=NOW)
    assert answered.nps_category is category
    assert answered.score == score


def test_csat_accepts_1_to_5_only() -> None:
    csat = a_survey(kind=SurveyKind.CSAT)
    assert answer_survey(csat, token="tok", score=5, comment=None, now=NOW).nps_category is None
    with pytest.raises(InvalidInput):
        answer_survey(csat, token="tok", score=0, comment=None, now=NOW)


def test_out_of_range_nps_is_invalid() -> None:
    with pytest.raises(InvalidInput):
        answer_survey(a_survey(), token="tok", score=11, comment=None, now=NOW)


def test_second_answer_conflicts() -> None:
    with pytest.raises(Conflict):
        answer_survey(a_survey(answered=True), token="tok", score=5, comment=None, now=NOW)


def test_expired_survey_is_gone() -> None:
    with pytest.raises(Gone):
        answer_survey(a_survey(expires_at=NOW - timedelta(seconds=1)), token="tok", score=5, comment=None, now=NOW)


def test_wrong_token_is_forbidden() -> None:
    with pytest.raises(Forbidden):
        answer_survey(a_survey(), token="nope", score=5, comment=None, now=NOW)


def an_offer(**overrides: object) -> IssuedOffer:
    values: dict[str, object] = {"code": "C360-X", "campaign_id": "c", "customer_id": "u-1",
                                 "valid_until": NOW + timedelta(days=1)}
    values.update(overrides)
    return IssuedOffer(**values)  # type: ignore[arg-type]


def test_a_valid_code_of_the_customer_redeems() -> None:
    assert judge_redemption(an_offer(), customer_id="u-1", ordered_at=NOW) is None


@pytest.mark.parametrize(
    ("offer", "reason"),
    [(None, InvalidRedemptionReason.UNKNOWN_CODE),
     (an_offer(customer_id="u-2"), InvalidRedemptionReason.WRONG_CUSTOMER),
     (an_offer(redeemed=True), InvalidRedemptionReason.ALREADY_REDEEMED),
     (an_offer(valid_until=NOW - timedelta(days=1)), InvalidRedemptionReason.EXPIRED)],
)
def test_invalid_redemptions_say_why(offer: IssuedOffer | None, reason: InvalidRedemptionReason) -> None:
    assert judge_redemption(offer, customer_id="u-1", ordered_at=NOW) is reason
