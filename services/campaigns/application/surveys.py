"""Survey commands: send a survey (with its purpose and questions), answer it, answer one question.

Each runs in the caller's unit of work (``Work[ReadModel]``), so the survey row, its events (event
store → outbox → ``campaigns.events``) and the message request commit together or not at all; every
rule is checked before anything is written, so a refused request changes nothing. Each answers
``Created`` (the survey, or the answer given) for ``api/`` to turn into a 201.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from services.campaigns.application.engine import token_hash
from services.campaigns.application.ports import ReadModel
from services.campaigns.domain.surveys import (
    REASON,
    SCORE,
    SURVEY_VALIDITY,
    GivenAnswer,
    SentSurvey,
    SurveyState,
    answer_questions,
    answer_survey,
    ensure_may_ask,
    survey_questions,
    survey_stream,
)
from shared.contracts.campaigns import (
    Channel,
    MessageRequested,
    NpsCategory,
    SurveyKind,
    SurveyPurpose,
    SurveyQuestion,
    SurveySent,
)
from shared.errors import InvalidInput, NotFound
from shared.store.outcomes import Created
from shared.store.ports import Work


async def send_survey(
    uow: Work[ReadModel],
    *,
    messages_topic: str,
    customer_id: str,
    kind: SurveyKind,
    ticket_id: str | None,
    now: datetime,
    purpose: SurveyPurpose | None = None,
    order_id: str | None = None,
    period: timedelta = timedelta(days=90),
    extra_questions: Sequence[SurveyQuestion] = (),
) -> Created:
    """Send an NPS or CSAT survey now; the answer carries the response token for the link.

    A relationship survey is refused (409) while the customer has an open complaint or was asked
    within ``period``; a transactional one names the resolved ticket or the delivered order (422).
    The message request goes to ``messages_topic`` (``campaigns.messages``) when the customer consented
    to a channel.
    """
    questions = survey_questions(kind, extra_questions)
    # The customer's lock: two operators sending relationship surveys at once must not both pass.
    await uow.rows.lock_customer(customer_id)
    open_complaints = await uow.rows.open_complaints(customer_id)
    customer = await uow.rows.customer(customer_id)
    ensure_may_ask(purpose, ticket_id=ticket_id, order_id=order_id, open_complaints=open_complaints,
                   last_relationship_at=customer.last_relationship_survey_at, period=period, now=now)
    channel = next((c for c in (Channel.EMAIL, Channel.SMS, Channel.PUSH) if c in customer.consents), None)
    survey_id, token = str(uuid.uuid4()), secrets.token_urlsafe(24)
    expires_at = now + SURVEY_VALIDITY
    await uow.rows.insert_survey(SentSurvey(
        survey_id=survey_id, customer_id=customer_id, kind=kind, token_hash=token_hash(token), ticket_id=ticket_id,
        order_id=order_id, purpose=purpose, questions=questions, channel=channel, sent_at=now,
        expires_at=expires_at))
    await uow.append(stream_id=survey_stream(survey_id), stream_type="survey", expected_version=0, subject=customer_id,
                     events=[SurveySent(survey_id=survey_id, customer_id=customer_id, kind=kind, ticket_id=ticket_id,
                                        channel=channel, expires_at=expires_at, purpose=purpose, order_id=order_id,
                                        questions=list(questions))])
    if channel is not None:
        await uow.rows.request_message(messages_topic, MessageRequested(
            message_id=str(uuid.uuid4()), customer_id=customer_id, channel=channel, template=f"{kind.value}-survey",
            kind="survey", variables={"survey_id": survey_id, "response_token": token}))
    body = {"id": survey_id, "customer_id": customer_id, "kind": kind.value, "ticket_id": ticket_id,
            "order_id": order_id, "purpose": purpose.value if purpose else None,
            "questions": [q.model_dump(mode="json") for q in questions],
            "channel": channel.value if channel else None, "response_token": token,
            "expires_at": expires_at.isoformat().replace("+00:00", "Z"), "status": "sent"}
    return Created(body, survey_id)


async def _survey(uow: Work[ReadModel], survey_id: str) -> tuple[SurveyState, int]:
    """The survey locked for this command, and its stream's head (the version to append after)."""
    state = await uow.rows.survey_for_answer(survey_id)
    if state is None:
        raise NotFound(f"survey {survey_id} not found")
    history = await uow.load(survey_stream(survey_id))
    return state, history[-1].version if history else 0


async def answer(
    uow: Work[ReadModel],
    *,
    survey_id: str,
    token: str,
    score: int,
    comment: str | None,
    now: datetime,
    reason: str | None = None,
    answers: Sequence[GivenAnswer] = (),
) -> Created:
    """Record a customer's answer (once, before expiry, with the survey's token).

    The score is announced as ``SurveyAnswered`` (as always: its readers are unchanged) and, with the
    reason (``reason``, or ``comment`` as older links send it) and any extra answers, one
    ``SurveyQuestionAnswered`` per question.
    """
    if comment is not None and reason is not None:
        raise InvalidInput("give the reason once: reason (or comment, as older links send it), not both",
                           field="reason")
    why = reason if reason is not None else comment
    state, version = await _survey(uow, survey_id)
    given = [GivenAnswer(SCORE, score=score)]
    if why is not None and why.strip():
        given.append(GivenAnswer(REASON, text=why))
    given.extend(answers)
    if any(a.question_id in (SCORE, REASON) for a in answers):
        raise InvalidInput("the score and the reason have their own fields; answers holds the extra questions",
                           field="answers")
    hashed = token_hash(token)
    answered = answer_survey(state, token=hashed, score=score, comment=why.strip() if why else None, now=now)
    questions = answer_questions(state, token=hashed, answers=given, now=now)
    await uow.rows.record_score(state.survey_id, score, now)
    await uow.rows.record_answers(state.survey_id, questions, now)
    await uow.append(stream_id=survey_stream(survey_id), stream_type="survey", expected_version=version,
                     events=[answered, *questions], subject=state.customer_id)
    if answered.nps_category is NpsCategory.DETRACTOR:
        await uow.rows.record_detractor(state.customer_id, now)
    done = {*state.answered_questions, *(q.question_id for q in questions)}
    body = {"survey_id": survey_id, "score": score,
            "nps_category": answered.nps_category.value if answered.nps_category else None,
            "answered": sorted(done), "remaining": _remaining(state.asked, done)}
    return Created(body, survey_id)


async def answer_question(
    uow: Work[ReadModel], *, survey_id: str, token: str, answer: GivenAnswer, now: datetime
) -> Created:
    """Answer one more question of a survey whose score was given (the reason on the link's next page)."""
    state, version = await _survey(uow, survey_id)
    if answer.question_id == SCORE:
        raise InvalidInput("the score is answered with POST /v1/surveys/{survey_id}/responses", field="question_id")
    questions = answer_questions(state, token=token_hash(token), answers=[answer], now=now, field_name="")
    await uow.rows.record_answers(state.survey_id, questions, now)
    await uow.append(stream_id=survey_stream(survey_id), stream_type="survey", expected_version=version,
                     events=questions, subject=state.customer_id)
    done = {*state.answered_questions, *(q.question_id for q in questions)}
    if state.answered:
        done.add(SCORE)
    return Created({"survey_id": survey_id, "question_id": answer.question_id,
                    "answered": sorted(done), "remaining": _remaining(state.asked, done)}, survey_id)


def _remaining(asked: Sequence[SurveyQuestion], done: set[str]) -> list[str]:
    return [q.id for q in asked if q.id not in done]
