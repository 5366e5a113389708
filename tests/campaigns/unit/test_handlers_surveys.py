"""Survey commands on in-memory ports: send a survey, answer it, answer one more question (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.campaigns.application import surveys
from services.campaigns.application.engine import token_hash
from services.campaigns.domain.decision import CustomerSnapshot
from services.campaigns.domain.surveys import GivenAnswer
from shared.contracts.campaigns import (
    Channel,
    NpsCategory,
    QuestionKind,
    SurveyAnswered,
    SurveyKind,
    SurveyPurpose,
    SurveyQuestion,
    SurveyQuestionAnswered,
    SurveySent,
)
from shared.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from shared.store.outcomes import Created
from shared.testing.fakes import FakeWork
from tests.campaigns.fakes import InMemoryReadModel

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CUSTOMER = "c-1"
TOPIC = "test.campaigns.messages"
DELIVERY = SurveyQuestion(id="delivery", kind=QuestionKind.CSAT, prompt="How was the delivery?")


@pytest.fixture
def work() -> FakeWork[InMemoryReadModel]:
    rows = InMemoryReadModel(now=NOW)
    rows.customers[CUSTOMER] = CustomerSnapshot(customer_id=CUSTOMER, consents=frozenset({Channel.SMS}))
    return FakeWork(fake_rows=rows)


async def sent(work: FakeWork[InMemoryReadModel], **overrides: object) -> Created:
    values: dict[str, object] = {"messages_topic": TOPIC, "customer_id": CUSTOMER, "kind": SurveyKind.NPS,
                                 "ticket_id": None, "now": NOW}
    values.update(overrides)
    return await surveys.send_survey(work, **values)  # type: ignore[arg-type]


async def test_a_sent_survey_is_stored_announced_and_messaged(work: FakeWork[InMemoryReadModel]) -> None:
    outcome = await sent(work, extra_questions=[DELIVERY])

    survey_id = outcome.resource_id
    body = outcome.resource
    assert body["id"] == survey_id
    assert (body["status"], body["kind"], body["channel"]) == ("sent", "nps", "sms")
    assert body["expires_at"] == "2026-03-24T12:00:00Z"
    assert [q["id"] for q in body["questions"]] == ["score", "reason", "delivery"]
    stored = work.rows.surveys[survey_id]
    assert stored.token == token_hash(body["response_token"])
    assert stored.expires_at == NOW + timedelta(days=14)
    (event,) = work.events(f"survey-{survey_id}")
    assert isinstance(event, SurveySent)
    assert (event.customer_id, event.channel, event.expires_at) == (CUSTOMER, Channel.SMS, NOW + timedelta(days=14))
    ((topic, message),) = work.rows.messages
    assert topic == TOPIC
    assert (message.customer_id, message.channel, message.template) == (CUSTOMER, Channel.SMS, "nps-survey")
    assert message.variables == {"survey_id": survey_id, "response_token": body["response_token"]}
    assert work.rows.locked == [CUSTOMER]


async def test_without_consent_the_survey_is_stored_but_no_message_goes(work: FakeWork[InMemoryReadModel]) -> None:
    outcome = await sent(work, customer_id="unknown-customer")
    assert outcome.resource["channel"] is None
    assert work.rows.messages == []
    assert outcome.resource_id in work.rows.surveys


async def test_a_relationship_survey_is_remembered_and_not_sent_again_within_the_period(
    work: FakeWork[InMemoryReadModel],
) -> None:
    await sent(work, purpose=SurveyPurpose.RELATIONSHIP)
    assert work.rows.customers[CUSTOMER].last_relationship_survey_at == NOW

    with pytest.raises(Conflict) as refused:
        await sent(work, purpose=SurveyPurpose.RELATIONSHIP, now=NOW + timedelta(days=30))
    assert refused.value.extra["next_allowed_at"] == (NOW + timedelta(days=90)).isoformat()
    assert len(work.events()) == 1


async def test_a_survey_about_an_open_complaint_is_refused(work: FakeWork[InMemoryReadModel]) -> None:
    work.rows.complaints[CUSTOMER] = ["t-9"]
    with pytest.raises(Conflict):
        await sent(work, purpose=SurveyPurpose.TRANSACTIONAL, ticket_id="t-9")
    assert work.events() == []
    assert work.rows.surveys == {}


async def test_a_detractor_answer_records_the_score_the_reason_and_the_hold(
    work: FakeWork[InMemoryReadModel],
) -> None:
    survey = await sent(work, extra_questions=[DELIVERY])
    survey_id = survey.resource_id
    later = NOW + timedelta(hours=2)

    outcome = await surveys.answer(work, survey_id=survey_id, token=survey.resource["response_token"], score=3,
                                   comment=None, reason="  slow  ", now=later)

    assert outcome.resource == {"survey_id": survey_id, "score": 3, "nps_category": "detractor",
                                "answered": ["reason", "score"], "remaining": ["delivery"]}
    events = work.events(f"survey-{survey_id}")
    assert [type(e) for e in events] == [SurveySent, SurveyAnswered, SurveyQuestionAnswered, SurveyQuestionAnswered]
    answered = events[1]
    assert isinstance(answered, SurveyAnswered)
    assert (answered.score, answered.comment, answered.nps_category) == (3, "slow", NpsCategory.DETRACTOR)
    assert work.rows.surveys[survey_id].score == 3
    assert [a.question_id for a in work.rows.answers[survey_id]] == ["score", "reason"]
    assert work.rows.detractors == {CUSTOMER: later}


async def test_a_promoter_answer_holds_nothing(work: FakeWork[InMemoryReadModel]) -> None:
    survey = await sent(work)
    outcome = await surveys.answer(work, survey_id=survey.resource_id, token=survey.resource["response_token"],
                                   score=10, comment=None, now=NOW)
    assert outcome.resource["nps_category"] == "promoter"
    assert outcome.resource["remaining"] == ["reason"]
    assert work.rows.detractors == {}


async def test_answers_are_refused_for_the_wrong_token_twice_late_or_unknown(
    work: FakeWork[InMemoryReadModel],
) -> None:
    survey = await sent(work)
    survey_id, token = survey.resource_id, survey.resource["response_token"]
    with pytest.raises(Forbidden):
        await surveys.answer(work, survey_id=survey_id, token="not-it", score=9, comment=None, now=NOW)
    with pytest.raises(Gone):
        await surveys.answer(work, survey_id=survey_id, token=token, score=9, comment=None,
                             now=NOW + timedelta(days=15))
    with pytest.raises(InvalidInput) as both:
        await surveys.answer(work, survey_id=survey_id, token=token, score=9, comment="a", reason="b", now=NOW)
    assert both.value.extra["field"] == "reason"
    with pytest.raises(NotFound):
        await surveys.answer(work, survey_id="no-such-survey", token=token, score=9, comment=None, now=NOW)
    assert len(work.events(f"survey-{survey_id}")) == 1

    await surveys.answer(work, survey_id=survey_id, token=token, score=9, comment=None, now=NOW)
    with pytest.raises(Conflict):
        await surveys.answer(work, survey_id=survey_id, token=token, score=9, comment=None, now=NOW)


async def test_one_more_question_is_answered_after_the_score(work: FakeWork[InMemoryReadModel]) -> None:
    survey = await sent(work, extra_questions=[DELIVERY])
    survey_id, token = survey.resource_id, survey.resource["response_token"]
    await surveys.answer(work, survey_id=survey_id, token=token, score=8, comment=None, now=NOW)

    outcome = await surveys.answer_question(work, survey_id=survey_id, token=token,
                                            answer=GivenAnswer("delivery", score=4), now=NOW)

    assert outcome.resource == {"survey_id": survey_id, "question_id": "delivery",
                                "answered": ["delivery", "score"], "remaining": ["reason"]}
    last = work.events(f"survey-{survey_id}")[-1]
    assert isinstance(last, SurveyQuestionAnswered)
    assert (last.question_id, last.score) == ("delivery", 4)
    assert [a.question_id for a in work.rows.answers[survey_id]] == ["score", "delivery"]


async def test_the_score_is_not_answered_as_one_more_question(work: FakeWork[InMemoryReadModel]) -> None:
    survey = await sent(work)
    with pytest.raises(InvalidInput) as refused:
        await surveys.answer_question(work, survey_id=survey.resource_id, token=survey.resource["response_token"],
                                      answer=GivenAnswer("score", score=5), now=NOW)
    assert refused.value.extra["field"] == "question_id"
    with pytest.raises(NotFound):
        await surveys.answer_question(work, survey_id="nope", token="t", answer=GivenAnswer("reason", text="x"),
                                      now=NOW)
