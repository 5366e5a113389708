"""Survey rows: the questions a survey asks, which ones were answered, and who was asked when.

Thin SQL for the survey rules of ``services.campaigns.domain.surveys``. The reason's text is never
written here (see migration 0005): it travels only in ``SurveyQuestionAnswered``, sealed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.campaigns.domain.surveys import SurveyState
from shared.contracts.campaigns import Channel, SurveyKind, SurveyPurpose, SurveyQuestion, SurveyQuestionAnswered
from shared.errors import NotFound


def survey_uuid(value: str) -> uuid.UUID:
    """The survey id as a UUID; a malformed id is a survey that does not exist (404)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"survey {value} not found") from None


def questions_json(questions: Sequence[SurveyQuestion]) -> list[dict[str, Any]]:
    return [q.model_dump(mode="json") for q in questions]


async def insert_survey(
    conn: asyncpg.Connection,
    *,
    survey_id: str,
    customer_id: str,
    kind: SurveyKind,
    token_hash: str,
    ticket_id: str | None,
    campaign_id: str | None,
    channel: Channel | None,
    sent_at: datetime,
    expires_at: datetime,
) -> None:
    """Store a new survey (only its response token's hash: a leaked table cannot answer surveys)."""
    await conn.execute(
        """insert into surveys (id, customer_id, kind, token_hash, ticket_id, campaign_id, channel, sent_at,
                                expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        uuid.UUID(survey_id), customer_id, kind.value, token_hash, ticket_id,
        uuid.UUID(campaign_id) if campaign_id else None, channel.value if channel else None, sent_at, expires_at,
    )


async def load_for_answer(conn: asyncpg.Connection, survey_id: str) -> tuple[asyncpg.Record, SurveyState]:
    """The survey locked for this transaction (answers to one survey are serialised), as the domain sees it."""
    row = await conn.fetchrow("select * from surveys where id = $1 for update", survey_uuid(survey_id))
    if row is None:
        raise NotFound(f"survey {survey_id} not found")
    answered = await conn.fetch("select question_id from survey_question_answers where survey_id = $1", row["id"])
    return row, state_of(row, frozenset(r["question_id"] for r in answered))


def state_of(row: Mapping[str, Any], answered_questions: frozenset[str]) -> SurveyState:
    questions = tuple(SurveyQuestion.model_validate(q) for q in row["questions"] or ())
    return SurveyState(
        survey_id=str(row["id"]), customer_id=row["customer_id"], kind=SurveyKind(row["kind"]),
        token=row["token_hash"], expires_at=row["expires_at"], answered=row["answered_at"] is not None,
        ticket_id=row["ticket_id"], campaign_id=str(row["campaign_id"]) if row["campaign_id"] else None,
        purpose=SurveyPurpose(row["purpose"]) if row["purpose"] else None, order_id=row["order_id"],
        questions=questions, answered_questions=answered_questions, score=row["score"],
    )


async def record_answers(
    conn: asyncpg.Connection, survey_id: uuid.UUID, answers: Sequence[SurveyQuestionAnswered], now: datetime
) -> None:
    """Which questions were answered (score or choice, never the text), in one statement."""
    if not answers:
        return
    await conn.execute(
        """insert into survey_question_answers (survey_id, question_id, answered_at, score, choice)
           select $1, a.question_id, $2, a.score, a.choice
           from unnest($3::text[], $4::int[], $5::text[]) as a(question_id, score, choice)""",
        survey_id, now, [a.question_id for a in answers], [a.score for a in answers], [a.choice for a in answers],
    )


async def plan_surveys(
    conn: asyncpg.Connection,
    *,
    survey_ids: Sequence[uuid.UUID],
    customer_ids: Sequence[str],
    purpose: SurveyPurpose | None,
    order_ids: Sequence[str | None],
    questions: Sequence[SurveyQuestion],
    sent_at: datetime,
) -> None:
    """Stamp newly stored surveys with their purpose, order and questions; remember relationship asks."""
    if not survey_ids:
        return
    await conn.execute(
        """update surveys s set purpose = $2, questions = $3::jsonb, order_id = o.order_id
           from unnest($1::uuid[], $4::text[]) as o(id, order_id) where s.id = o.id""",
        list(survey_ids), purpose.value if purpose else None, questions_json(questions), list(order_ids),
    )
    if purpose is SurveyPurpose.RELATIONSHIP:
        await conn.execute(
            """insert into customer_replica (customer_id, last_relationship_survey_at)
               select distinct c, $2::timestamptz from unnest($1::text[]) as c
               on conflict (customer_id) do update set
                   last_relationship_survey_at = greatest(customer_replica.last_relationship_survey_at,
                                                          excluded.last_relationship_survey_at),
                   updated_at = now()""",
            list(customer_ids), sent_at,
        )


async def survey_read(conn: asyncpg.Connection, survey_id: str) -> dict[str, Any]:
    """A survey for staff: its questions, status and which questions were answered (no text: sealed)."""
    row = await conn.fetchrow("select * from surveys where id = $1", survey_uuid(survey_id))
    if row is None:
        raise NotFound(f"survey {survey_id} not found")
    answers = await conn.fetch(
        "select question_id, answered_at, score, choice from survey_question_answers where survey_id = $1 "
        "order by answered_at, question_id", row["id"])
    state = state_of(row, frozenset(a["question_id"] for a in answers))
    return {
        "id": state.survey_id,
        "customer_id": state.customer_id,
        "kind": state.kind.value,
        "purpose": state.purpose.value if state.purpose else None,
        "ticket_id": state.ticket_id,
        "order_id": state.order_id,
        "campaign_id": state.campaign_id,
        "channel": row["channel"],
        "sent_at": row["sent_at"],
        "expires_at": row["expires_at"],
        "status": "answered" if state.answered else "sent",
        "score": state.score,
        "questions": questions_json(state.asked),
        "answers": [
            {"question_id": a["question_id"], "answered_at": a["answered_at"], "score": a["score"],
             "choice": a["choice"], "text_sealed": a["score"] is None and a["choice"] is None}
            for a in answers
        ],
    }
