"""The survey rules without I/O: questions, answering each once and the score first, and who may be asked when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.campaigns.domain.surveys import (
    GivenAnswer,
    SurveyState,
    answer_questions,
    ensure_may_ask,
    relationship_hold,
    survey_questions,
)
from shared.contracts.campaigns import (
    NpsCategory,
    QuestionKind,
    SuppressionReason,
    SurveyKind,
    SurveyPurpose,
    SurveyQuestion,
)
from shared.errors import Conflict, Gone, InvalidInput

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
CHANNEL = SurveyQuestion(id="channel", kind=QuestionKind.CHOICE, prompt="Where?", options=["web", "app"])


def a_survey(**overrides: object) -> SurveyState:
    values: dict[str, object] = {"survey_id": "s-1", "customer_id": "u-1", "kind": SurveyKind.NPS, "token": "tok",
                                 "expires_at": NOW + timedelta(days=1),
                                 "questions": survey_questions(SurveyKind.NPS, [CHANNEL])}
    values.update(overrides)
    return SurveyState(**values)  # type: ignore[arg-type]


def test_a_survey_asks_the_score_then_the_main_reason_then_the_extras() -> None:
    asked = survey_questions(SurveyKind.CSAT, [CHANNEL])
    assert [(q.id, q.kind) for q in asked] == [("score", QuestionKind.CSAT), ("reason", QuestionKind.TEXT),
                                               ("channel", QuestionKind.CHOICE)]
    assert asked[1].prompt == "What is the main reason for your score?"


def test_a_survey_sent_before_questions_asks_the_default_two() -> None:
    assert [q.id for q in a_survey(questions=()).asked] == ["score", "reason"]


@pytest.mark.parametrize("extra", [
    [SurveyQuestion(id="reason", kind=QuestionKind.CSAT, prompt="?")],
    [SurveyQuestion(id="x", kind=QuestionKind.TEXT, prompt="?")],
    [SurveyQuestion(id="x", kind=QuestionKind.CHOICE, prompt="?", options=["a", "a"])],
    [SurveyQuestion(id="x", kind=QuestionKind.CSAT, prompt="?", options=["a", "b"])],
    [SurveyQuestion(id=f"q{n}", kind=QuestionKind.CSAT, prompt="?") for n in range(4)],
])
def test_extra_questions_that_cannot_be_answered_well_are_refused(extra: list[SurveyQuestion]) -> None:
    with pytest.raises(InvalidInput):
        survey_questions(SurveyKind.NPS, extra)


def test_the_reason_carries_the_band_of_the_score_and_its_text_trimmed() -> None:
    answered = answer_questions(a_survey(), token="tok", now=NOW, answers=[
        GivenAnswer("score", score=6), GivenAnswer("reason", text="  slow  "), GivenAnswer("channel", choice="app")])
    assert [(a.question_id, a.score, a.text, a.choice) for a in answered] == [
        ("score", 6, None, None), ("reason", None, "slow", None), ("channel", None, None, "app")]
    assert {a.nps_category for a in answered} == {NpsCategory.DETRACTOR}


def test_the_score_comes_first_and_each_question_once() -> None:
    with pytest.raises(Conflict):
        answer_questions(a_survey(), token="tok", now=NOW, answers=[GivenAnswer("reason", text="why")])
    scored = a_survey(answered=True, score=9, answered_questions=frozenset({"score", "reason"}))
    (later,) = answer_questions(scored, token="tok", now=NOW, answers=[GivenAnswer("channel", choice="web")])
    assert later.nps_category is NpsCategory.PROMOTER
    with pytest.raises(Conflict):
        answer_questions(scored, token="tok", now=NOW, answers=[GivenAnswer("reason", text="again")])
    with pytest.raises(Gone):
        answer_questions(scored, token="tok", now=NOW + timedelta(days=2),
                         answers=[GivenAnswer("channel", choice="web")])


def test_a_relationship_survey_waits_for_the_period_and_for_an_open_complaint() -> None:
    period = timedelta(days=90)
    assert relationship_hold(open_complaints=0, last_asked_at=None, period=period, now=NOW) is None
    held = relationship_hold(open_complaints=0, last_asked_at=NOW - timedelta(days=89), period=period, now=NOW)
    assert held is not None and held[0] is SuppressionReason.FREQUENCY_CAP
    assert relationship_hold(open_complaints=0, last_asked_at=NOW - period, period=period, now=NOW) is None
    complaint = relationship_hold(open_complaints=1, last_asked_at=None, period=period, now=NOW)
    assert complaint is not None and complaint[0] is SuppressionReason.SERVICE_RECOVERY_HOLD


def test_an_operator_is_told_when_the_customer_may_be_asked_again() -> None:
    with pytest.raises(Conflict) as refused:
        ensure_may_ask(SurveyPurpose.RELATIONSHIP, ticket_id=None, order_id=None, open_complaints=[],
                       last_relationship_at=NOW - timedelta(days=10), period=timedelta(days=90), now=NOW)
    assert refused.value.extra["next_allowed_at"] == (NOW + timedelta(days=80)).isoformat()
    with pytest.raises(InvalidInput):
        ensure_may_ask(SurveyPurpose.TRANSACTIONAL, ticket_id=None, order_id=None, open_complaints=[],
                       last_relationship_at=None, period=timedelta(days=90), now=NOW)
