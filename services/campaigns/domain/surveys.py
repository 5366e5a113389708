"""Surveys (NPS 0-10, CSAT 1-5) and offer redemptions: the rules, without I/O.

A survey is answered once, from a link carrying its response token, before it expires. An order's
offer code counts as a redemption only when it exists, belongs to the ordering customer, has not
expired and was not used before; anything else is recorded as invalid and not counted.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.contracts.campaigns import InvalidRedemptionReason, SurveyAnswered, SurveyKind, nps_category
from shared.errors import Conflict, Forbidden, Gone, InvalidInput

SURVEY_VALIDITY = timedelta(days=14)
SCORE_RANGES: dict[SurveyKind, tuple[int, int]] = {SurveyKind.NPS: (0, 10), SurveyKind.CSAT: (1, 5)}


@dataclass(frozen=True, slots=True)
class SurveyState:
    """A sent survey as the service remembers it."""

    survey_id: str
    customer_id: str
    kind: SurveyKind
    token: str
    expires_at: datetime
    answered: bool = False
    ticket_id: str | None = None
    campaign_id: str | None = None


def answer_survey(
    survey: SurveyState, *, token: str, score: int, comment: str | None, now: datetime
) -> SurveyAnswered:
    """The ``SurveyAnswered`` event for a valid answer; raises 403/409/410/422 otherwise."""
    if not hmac.compare_digest(survey.token.encode(), token.encode()):
        raise Forbidden("the response token does not belong to this survey")
    low, high = SCORE_RANGES[survey.kind]
    if not low <= score <= high:
        raise InvalidInput(f"a {survey.kind} score must be between {low} and {high}", field="score")
    if survey.answered:
        raise Conflict("this survey was already answered", current_status="answered")
    if now >= survey.expires_at:
        raise Gone("this survey expired", expired_at=survey.expires_at.isoformat())
    return SurveyAnswered(
        survey_id=survey.survey_id,
        customer_id=survey.customer_id,
        kind=survey.kind,
        score=score,
        comment=comment,
        nps_category=nps_category(score) if survey.kind is SurveyKind.NPS else None,
        ticket_id=survey.ticket_id,
        campaign_id=survey.campaign_id,
    )


@dataclass(frozen=True, slots=True)
class IssuedOffer:
    """An offer code the service handed out."""

    code: str
    campaign_id: str
    customer_id: str
    valid_until: datetime
    redeemed: bool = False


def judge_redemption(
    offer: IssuedOffer | None, *, customer_id: str, ordered_at: datetime
) -> InvalidRedemptionReason | None:
    """None when the code counts as a redemption; otherwise why it does not."""
    if offer is None:
        return InvalidRedemptionReason.UNKNOWN_CODE
    if offer.customer_id != customer_id:
        return InvalidRedemptionReason.WRONG_CUSTOMER
    if offer.redeemed:
        return InvalidRedemptionReason.ALREADY_REDEEMED
    if ordered_at > offer.valid_until:
        return InvalidRedemptionReason.EXPIRED
    return None
