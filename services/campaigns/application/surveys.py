"""Survey commands: send a survey (with its purpose and questions), answer it, answer one question.

Each runs in the caller's unit of work, so the survey row, its events (event store → outbox →
``campaigns.events``) and the message request commit together or not at all; every rule is checked
before anything is written, so a refused request changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from services.campaigns.adapters import replica
from services.campaigns.adapters import surveys as store
from services.campaigns.application.engine import Engine, create_survey, request_message, token_hash
from services.campaigns.domain.surveys import (
    REASON,
    SCORE,
    SURVEY_VALIDITY,
    GivenAnswer,
    answer_questions,
    answer_survey,
    ensure_may_ask,
    survey_questions,
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
from shared.errors import InvalidInput
from shared.store.idempotent_commands import CommandResult
from shared.store.uow import UnitOfWork


async def send_survey(
    uow: UnitOfWork,
    engine: Engine,
    *,
    customer_id: str,
    kind: SurveyKind,
    ticket_id: str | None,
    now: datetime,
    purpose: SurveyPurpose | None = None,
    order_id: str | None = None,
    period: timedelta = timedelta(days=90),
    extra_questions: Sequence[SurveyQuestion] = (),
) -> CommandResult:
    """Send an NPS or CSAT survey now; the answer carries the response token for the link.

    A relationship survey is refused (409) while the customer has an open complaint or was asked
    within ``period``; a transactional one names the resolved ticket or the delivered order (422).
    """
    questions = survey_questions(kind, extra_questions)
    # The customer's lock: two operators sending relationship surveys at once must not both pass.
    await uow.conn.execute("select pg_advisory_xact_lock(hashtextextended('campaigns:customer:' || $1, 0))",
                           customer_id)
    row = await uow.conn.fetchrow(
        "select open_complaints, last_relationship_survey_at from customer_replica where customer_id = $1",
        customer_id)
    ensure_may_ask(purpose, ticket_id=ticket_id, order_id=order_id,
                   open_complaints=list(row["open_complaints"]) if row else [],
                   last_relationship_at=row["last_relationship_survey_at"] if row else None, period=period, now=now)
    snapshot = await replica.load_snapshot(uow.conn, customer_id)
    channel = next((c for c in (Channel.EMAIL, Channel.SMS, Channel.PUSH) if c in snapshot.consents), None)
    survey_id, token = await create_survey(uow.conn, customer_id=customer_id, kind=kind, ticket_id=ticket_id,
                                           campaign_id=None, channel=channel, now=now)
    await store.plan_surveys(uow.conn, survey_ids=[uuid.UUID(survey_id)], customer_ids=[customer_id],
                             purpose=purpose, order_ids=[order_id], questions=questions, sent_at=now)
    expires_at = now + SURVEY_VALIDITY
    await uow.append(stream_id=f"survey-{survey_id}", stream_type="survey", expected_version=0, subject=customer_id,
                     events=[SurveySent(survey_id=survey_id, customer_id=customer_id, kind=kind, ticket_id=ticket_id,
                                        channel=channel, expires_at=expires_at, purpose=purpose, order_id=order_id,
                                        questions=list(questions))])
    if channel is not None:
        await request_message(engine, uow.conn, MessageRequested(
            message_id=str(uuid.uuid4()), customer_id=customer_id, channel=channel, template=f"{kind.value}-survey",
            kind="survey", variables={"survey_id": survey_id, "response_token": token}))
    body = {"id": survey_id, "customer_id": customer_id, "kind": kind.value, "ticket_id": ticket_id,
            "order_id": order_id, "purpose": purpose.value if purpose else None,
            "questions": store.questions_json(questions),
            "channel": channel.value if channel else None, "response_token": token,
            "expires_at": expires_at.isoformat().replace("+00:00", "Z"), "status": "sent"}
    return CommandResult(201, body, {"Location": f"/v1/surveys/{survey_id}"})


async def answer(
    uow: UnitOfWork,
    *,
    survey_id: str,
    token: str,
    score: int,
    comment: str | None,
    now: datetime,
    reason: str | None = None,
    answers: Sequence[GivenAnswer] = (),
) -> CommandResult:
    """Record a customer's answer (once, before expiry, with the survey's token).

    The score is announced as ``SurveyAnswered`` (as always: its readers are unchanged) and, with the
    reason (``reason``, or ``comment`` as older links send it) and any extra answers, one
    ``SurveyQuestionAnswered`` per question.
    """
    if comment is not None and reason is not None:
        raise InvalidInput("give the reason once: reason (or comment, as older links send it), not both",
                           field="reason")
    why = reason if reason is not None else comment
    row, state = await store.load_for_answer(uow.conn, survey_id)
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
    await uow.conn.execute("update surveys set answered_at = $2, score = $3 where id = $1", row["id"], now, score)
    await store.record_answers(uow.conn, row["id"], questions, now)
    version = await uow.store.stream_version(uow.conn, f"survey-{survey_id}")
    await uow.append(stream_id=f"survey-{survey_id}", stream_type="survey", expected_version=version,
                     events=[answered, *questions], subject=row["customer_id"])
    if answered.nps_category is NpsCategory.DETRACTOR:
        await replica.record_detractor(uow.conn, row["customer_id"], now)
    body = {"survey_id": survey_id, "score": score,
            "nps_category": answered.nps_category.value if answered.nps_category else None,
            "answered": sorted({*state.answered_questions, *(q.question_id for q in questions)}),
            "remaining": _remaining(state.asked, {*state.answered_questions, *(q.question_id for q in questions)})}
    return CommandResult(201, body)


async def answer_question(
    uow: UnitOfWork, *, survey_id: str, token: str, answer: GivenAnswer, now: datetime
) -> CommandResult:
    """Answer one more question of a survey whose score was given (the reason on the link's next page)."""
    row, state = await store.load_for_answer(uow.conn, survey_id)
    if answer.question_id == SCORE:
        raise InvalidInput("the score is answered with POST /v1/surveys/{survey_id}/responses", field="question_id")
    questions = answer_questions(state, token=token_hash(token), answers=[answer], now=now, field_name="")
    await store.record_answers(uow.conn, row["id"], questions, now)
    version = await uow.store.stream_version(uow.conn, f"survey-{survey_id}")
    await uow.append(stream_id=f"survey-{survey_id}", stream_type="survey", expected_version=version,
                     events=questions, subject=row["customer_id"])
    done = {*state.answered_questions, *(q.question_id for q in questions)}
    if state.answered:
        done.add(SCORE)
    return CommandResult(201, {"survey_id": survey_id, "question_id": answer.question_id,
                               "answered": sorted(done), "remaining": _remaining(state.asked, done)})


def _remaining(asked: Sequence[SurveyQuestion], done: set[str]) -> list[str]:
    return [q.id for q in asked if q.id not in done]
