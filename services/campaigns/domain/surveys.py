"""Surveys (NPS 0-10, CSAT 1-5) that ask why, and offer redemptions: the rules, without I/O.

A survey is a short list of questions: its score first (NPS or CSAT, id ``score``), then "what is the
main reason for your score?" (free text, id ``reason``), then optionally a CSAT score or a choice
among options. It is answered from a link carrying its response token, before it expires; each
question once, the score before anything else (a reason means nothing without the score it explains).

Why customers are asked, and when they may be:

* relationship surveys ask how the customer feels about us overall: at most once per period
  (90 days unless configured) per customer, and never while one of their complaints is open (the
  answer would measure the complaint, and asking then is tone-deaf);
* transactional surveys ask about one interaction right after it: a resolved ticket or a delivered
  order, so a campaign sending them must be triggered by ``TicketResolved`` or ``OrderDelivered``.

An order's offer code counts as a redemption only when it exists, belongs to the ordering customer,
has not expired and was not used before; anything else is recorded as invalid and not counted.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.contracts.campaigns import (
    Channel,
    InvalidRedemptionReason,
    NpsCategory,
    QuestionKind,
    SuppressionReason,
    SurveyAnswered,
    SurveyKind,
    SurveyPurpose,
    SurveyQuestion,
    SurveyQuestionAnswered,
    nps_category,
)
from shared.errors import Conflict, Forbidden, Gone, InvalidInput

SURVEY_VALIDITY = timedelta(days=14)
SCORE_RANGES: dict[SurveyKind, tuple[int, int]] = {SurveyKind.NPS: (0, 10), SurveyKind.CSAT: (1, 5)}
QUESTION_RANGES: dict[QuestionKind, tuple[int, int]] = {QuestionKind.NPS: (0, 10), QuestionKind.CSAT: (1, 5)}

DEFAULT_RELATIONSHIP_PERIOD = timedelta(days=90)
MAX_RELATIONSHIP_PERIOD_DAYS = 3650
TRANSACTIONAL_TRIGGERS = frozenset({"TicketResolved", "OrderDelivered"})
"""What a transactional survey follows: a resolved ticket or a delivered order."""

SCORE = "score"
REASON = "reason"
SCORE_PROMPTS = {
    SurveyKind.NPS: "How likely are you to recommend us to a friend or colleague?",
    SurveyKind.CSAT: "How satisfied were you?",
}
REASON_PROMPT = "What is the main reason for your score?"
MAX_EXTRA_QUESTIONS = 3
MAX_TEXT = 2000
MAX_OPTIONS = 10


def survey_stream(survey_id: str) -> str:
    """The event stream of one sent survey (imported answers have their own, ``survey-import-<id>``)."""
    return f"survey-{survey_id}"


@dataclass(frozen=True, slots=True)
class SurveyPlan:
    """What a survey asks beyond its kind: why (purpose), how often (period) and any extra questions."""

    purpose: SurveyPurpose | None = None
    period: timedelta = DEFAULT_RELATIONSHIP_PERIOD
    extra_questions: tuple[SurveyQuestion, ...] = ()


def survey_questions(kind: SurveyKind, extra: Sequence[SurveyQuestion] = (), *,
                     field_name: str = "questions") -> tuple[SurveyQuestion, ...]:
    """The survey's questions in order: the score, the reason, then the extras (validated: 422)."""
    if len(extra) > MAX_EXTRA_QUESTIONS:
        raise InvalidInput(f"at most {MAX_EXTRA_QUESTIONS} extra questions", field=field_name)
    seen = {SCORE, REASON}
    for n, question in enumerate(extra):
        where = f"{field_name}.{n}"
        if question.id in seen:
            raise InvalidInput(f"question id {question.id!r} is used twice (score and reason are the survey's own)",
                               field=f"{where}.id")
        seen.add(question.id)
        if question.kind is QuestionKind.CHOICE:
            options = [o.strip() for o in question.options]
            if not 2 <= len(options) <= MAX_OPTIONS or any(not o for o in options) or len(set(options)) < len(options):
                raise InvalidInput(f"a choice question needs 2 to {MAX_OPTIONS} distinct, non-empty options",
                                   field=f"{where}.options")
        elif question.kind is QuestionKind.CSAT:
            if question.options:
                raise InvalidInput("only a choice question has options", field=f"{where}.options")
        else:
            raise InvalidInput("an extra question is a csat score or a choice (the score and the reason come "
                               "first by themselves)", field=f"{where}.kind")
    own = (
        SurveyQuestion(id=SCORE, kind=QuestionKind(kind.value), prompt=SCORE_PROMPTS[kind]),
        SurveyQuestion(id=REASON, kind=QuestionKind.TEXT, prompt=REASON_PROMPT),
    )
    return own + tuple(extra)


def check_plan(plan: SurveyPlan, *, trigger_event_type: str | None, field_name: str = "action.survey") -> None:
    """A campaign's survey plan against its trigger (422): transactional surveys follow a transaction."""
    days = plan.period.days
    if not 1 <= days <= MAX_RELATIONSHIP_PERIOD_DAYS or plan.period != timedelta(days=days):
        raise InvalidInput(f"period_days must be a whole number of days from 1 to {MAX_RELATIONSHIP_PERIOD_DAYS}",
                           field=f"{field_name}.period_days")
    if plan.purpose is SurveyPurpose.TRANSACTIONAL and trigger_event_type not in TRANSACTIONAL_TRIGGERS:
        raise InvalidInput("a transactional survey follows a resolved ticket or a delivered order: trigger it with "
                           "TicketResolved or OrderDelivered", field="trigger.event_type")


def relationship_hold(
    *, open_complaints: int, last_asked_at: datetime | None, period: timedelta, now: datetime
) -> tuple[SuppressionReason, str] | None:
    """Why a relationship survey may not go to this customer now (reason, detail), or None when it may.

    The reasons are the existing suppression reasons that mean the same thing (no new version of
    ``MessageSuppressed`` is needed): an open complaint holds it like it holds a promotion; "asked
    within the period" is a frequency cap of one per period.
    """
    if open_complaints > 0:
        return (SuppressionReason.SERVICE_RECOVERY_HOLD,
                "open complaint: a relationship survey waits until it is resolved")
    if last_asked_at is not None and now - last_asked_at < period:
        next_at = (last_asked_at + period).isoformat()
        return (SuppressionReason.FREQUENCY_CAP,
                f"relationship survey already sent within {period.days} days; next from {next_at}")
    return None


def ensure_may_ask(
    purpose: SurveyPurpose | None,
    *,
    ticket_id: str | None,
    order_id: str | None,
    open_complaints: Sequence[str],
    last_relationship_at: datetime | None,
    period: timedelta,
    now: datetime,
) -> None:
    """The same rules for a survey an operator sends through the API: 409/422 instead of a suppression."""
    if purpose is SurveyPurpose.TRANSACTIONAL:
        if (ticket_id is None) == (order_id is None):
            raise InvalidInput("a transactional survey asks about one resolved ticket or one delivered order: give "
                               "ticket_id or order_id", field="ticket_id")
        if ticket_id is not None and ticket_id in open_complaints:
            raise Conflict("this complaint is still open: ask about it once it is resolved", current_status="open")
    elif purpose is SurveyPurpose.RELATIONSHIP:
        if ticket_id is not None or order_id is not None:
            raise InvalidInput("a relationship survey asks about the customer's whole relationship: no ticket_id or "
                               "order_id", field="ticket_id" if ticket_id is not None else "order_id")
        held = relationship_hold(open_complaints=len(open_complaints), last_asked_at=last_relationship_at,
                                 period=period, now=now)
        if held is not None:
            raise Conflict(held[1], current_status=held[0].value,
                           **({"next_allowed_at": (last_relationship_at + period).isoformat()}
                              if last_relationship_at is not None and held[0] is SuppressionReason.FREQUENCY_CAP
                              else {}))


@dataclass(frozen=True, slots=True)
class SentSurvey:
    """A survey as it goes out: what the read model stores of it, as one record the handler hands over."""

    survey_id: str
    customer_id: str
    kind: SurveyKind
    token_hash: str
    """Only the response token's hash is kept: a leaked table cannot answer surveys."""
    ticket_id: str | None
    order_id: str | None
    purpose: SurveyPurpose | None
    questions: tuple[SurveyQuestion, ...]
    channel: Channel | None
    sent_at: datetime
    expires_at: datetime


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
    purpose: SurveyPurpose | None = None
    order_id: str | None = None
    questions: tuple[SurveyQuestion, ...] = ()
    """Empty for a survey sent before surveys had questions: it asks the default score and reason."""
    answered_questions: frozenset[str] = frozenset()
    score: int | None = None

    @property
    def asked(self) -> tuple[SurveyQuestion, ...]:
        return self.questions or survey_questions(self.kind)


@dataclass(frozen=True, slots=True)
class GivenAnswer:
    """One answer as the customer gave it: a score, a choice or a text, for one question."""

    question_id: str
    score: int | None = None
    choice: str | None = None
    text: str | None = None


def _check_access(survey: SurveyState, token: str, now: datetime) -> None:
    if not hmac.compare_digest(survey.token.encode(), token.encode()):
        raise Forbidden("the response token does not belong to this survey")
    if now >= survey.expires_at:
        raise Gone("this survey expired", expired_at=survey.expires_at.isoformat())


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _value_of(question: SurveyQuestion, given: GivenAnswer, where: str) -> GivenAnswer:
    """The answer reduced to the one value its question takes (422 for the wrong kind or range)."""
    kind = question.kind
    others = {"score": given.score, "choice": given.choice, "text": given.text}
    wanted = {QuestionKind.NPS: "score", QuestionKind.CSAT: "score", QuestionKind.TEXT: "text",
              QuestionKind.CHOICE: "choice"}[kind]
    if others[wanted] is None or any(v is not None for k, v in others.items() if k != wanted):
        raise InvalidInput(f"question {question.id!r} ({kind}) takes a {wanted} and nothing else",
                           field=_at(where, wanted))
    if kind in QUESTION_RANGES:
        low, high = QUESTION_RANGES[kind]
        assert given.score is not None
        if not low <= given.score <= high:
            raise InvalidInput(f"a {kind} score must be between {low} and {high}", field=_at(where, "score"))
        return GivenAnswer(question.id, score=given.score)
    if kind is QuestionKind.CHOICE:
        if given.choice not in question.options:
            raise InvalidInput(f"choose one of: {', '.join(question.options)}", field=_at(where, "choice"))
        return GivenAnswer(question.id, choice=given.choice)
    text = (given.text or "").strip()
    if not text or len(text) > MAX_TEXT:
        raise InvalidInput(f"the reason is text of 1 to {MAX_TEXT} characters", field=_at(where, "text"))
    return GivenAnswer(question.id, text=text)


def answer_questions(
    survey: SurveyState, *, token: str, answers: Sequence[GivenAnswer], now: datetime, field_name: str = "answers"
) -> list[SurveyQuestionAnswered]:
    """One ``SurveyQuestionAnswered`` per answer, all valid or none (403/409/410/422).

    ``field_name`` names the list the answers came in, for the 422's ``field`` ("" when a request body
    is one answer: its fields are named as they are).

    Each question is answered once; the score first (in this call or an earlier one), because every
    other answer is read against it (a reason is grouped by the score's NPS band).
    """
    _check_access(survey, token, now)
    questions = {q.id: q for q in survey.asked}
    checked: list[tuple[SurveyQuestion, GivenAnswer]] = []
    seen: set[str] = set()
    for n, given in enumerate(answers):
        where = f"{field_name}.{n}" if field_name else ""
        question = questions.get(given.question_id)
        if question is None:
            raise InvalidInput(f"this survey has no question {given.question_id!r} (it asks: "
                               f"{', '.join(questions)})", field=_at(where, "question_id"))
        if given.question_id in seen:
            raise InvalidInput(f"question {given.question_id!r} is answered twice",
                               field=_at(where, "question_id"))
        seen.add(given.question_id)
        checked.append((question, _value_of(question, given, where)))
    for question, _ in checked:
        if question.id in survey.answered_questions or (question.id == SCORE and survey.answered):
            raise Conflict(f"question {question.id!r} was already answered", current_status="answered")
    score = survey.score
    for question, given in checked:
        if question.id == SCORE:
            score = given.score
    if score is None and checked:
        raise Conflict("answer the score first: every other answer is read against it", current_status="unanswered")
    category: NpsCategory | None = (nps_category(score) if survey.kind is SurveyKind.NPS and score is not None
                                    else None)
    return [
        SurveyQuestionAnswered(
            survey_id=survey.survey_id, customer_id=survey.customer_id, survey_kind=survey.kind,
            question_id=question.id, question_kind=question.kind, score=given.score, choice=given.choice,
            text=given.text, nps_category=category, purpose=survey.purpose, ticket_id=survey.ticket_id,
            order_id=survey.order_id, campaign_id=survey.campaign_id,
        )
        for question, given in checked
    ]


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
        purpose=survey.purpose,
        order_id=survey.order_id,
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
