"""The campaigns read model on PostgreSQL: ``application.ports.ReadModel`` over the command's connection.

Thin: the SQL the command handlers used to run inline, and the existing query and adapter functions
(``application.queries``, ``adapters.surveys``, ``adapters.replica``) bound to the unit of work's
connection, so every write commits with the command's events.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.campaigns.adapters import replica
from services.campaigns.adapters import surveys as survey_rows
from services.campaigns.application import queries
from services.campaigns.application.engine import schedule_sweep
from services.campaigns.application.service_messages import load_templates
from services.campaigns.domain.decision import CustomerSnapshot
from services.campaigns.domain.model import CampaignDefinition, CampaignStatus
from services.campaigns.domain.service_messages import Templates
from services.campaigns.domain.surveys import SentSurvey, SurveyState
from shared.contracts.campaigns import (
    MarketingPolicyRules,
    MessageRequested,
    ServiceMessageTemplate,
    SurveyQuestionAnswered,
)
from shared.errors import NotFound
from shared.events.envelope import new_envelope
from shared.store.eventstore import Outbox


class PostgresReadModel:
    """The campaigns service's tables, read and written in the unit of work's transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    # --- campaigns ------------------------------------------------------------------------------------

    async def campaign(self, campaign_id: str) -> dict[str, Any] | None:
        try:
            return await queries.campaign_read(self._conn, campaign_id)
        except NotFound:
            return None

    async def insert_campaign(
        self, campaign_id: str, definition: CampaignDefinition, raw: dict[str, Any], version: int
    ) -> None:
        await self._conn.execute(
            """insert into campaigns (id, name, objective, status, trigger_event_type, schedule, definition, version)
               values ($1, $2, $3, 'draft', $4, $5, $6, $7)""",
            uuid.UUID(campaign_id), definition.name, definition.objective.value, definition.trigger.event_type,
            definition.trigger.schedule.value if definition.trigger.schedule else None, raw, version,
        )
        await self._conn.execute(
            "insert into campaign_budgets (campaign_id, total) values ($1, $2)",
            uuid.UUID(campaign_id), definition.budget.total if definition.budget else None,
        )

    async def update_campaign(
        self, campaign_id: str, definition: CampaignDefinition, raw: dict[str, Any], version: int
    ) -> None:
        await self._conn.execute(
            """update campaigns set name = $2, objective = $3, trigger_event_type = $4, schedule = $5,
                   definition = $6, version = $7, updated_at = now() where id = $1""",
            uuid.UUID(campaign_id), definition.name, definition.objective.value, definition.trigger.event_type,
            definition.trigger.schedule.value if definition.trigger.schedule else None, raw, version,
        )
        await self._conn.execute("update campaign_budgets set total = $2 where campaign_id = $1",
                                 uuid.UUID(campaign_id), definition.budget.total if definition.budget else None)

    async def set_campaign_status(self, campaign_id: str, status: CampaignStatus, version: int) -> None:
        await self._conn.execute("update campaigns set status = $2, version = $3, updated_at = now() where id = $1",
                                 uuid.UUID(campaign_id), status.value, version)

    async def existing_campaigns(self, campaign_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not campaign_ids:
            return set()
        rows = await self._conn.fetch("select id from campaigns where id = any($1::uuid[])", list(campaign_ids))
        return {r["id"] for r in rows}

    async def schedule_sweep(self, campaign_id: str, due_at: datetime) -> None:
        await schedule_sweep(self._conn, campaign_id, due_at)

    # --- the marketing policy and the service-message templates -------------------------------------

    async def save_policy(
        self, version: int, rules: MarketingPolicyRules, changed_by: str | None, changed_at: datetime | None
    ) -> None:
        await self._conn.execute(
            """insert into marketing_policy (id, version, rules, changed_by, changed_at)
               values ('current', $1, $2, $3, $4)
               on conflict (id) do update set version = excluded.version, rules = excluded.rules,
                   changed_by = excluded.changed_by, changed_at = excluded.changed_at""",
            version, rules.model_dump(mode="json"), changed_by, changed_at,
        )

    async def templates(self) -> Templates:
        return await load_templates(self._conn)

    async def save_templates(
        self, version: int, templates: Sequence[ServiceMessageTemplate], changed_by: str | None, changed_at: datetime
    ) -> None:
        await self._conn.execute(
            """insert into service_message_templates (id, version, templates, changed_by, changed_at)
               values ('current', $1, $2::jsonb, $3, $4)
               on conflict (id) do update set version = excluded.version, templates = excluded.templates,
                   changed_by = excluded.changed_by, changed_at = excluded.changed_at""",
            version, orjson.dumps([t.model_dump(mode="json") for t in templates]).decode(), changed_by, changed_at,
        )

    # --- customers and surveys ------------------------------------------------------------------------

    async def lock_customer(self, customer_id: str) -> None:
        await self._conn.execute("select pg_advisory_xact_lock(hashtextextended('campaigns:customer:' || $1, 0))",
                                 customer_id)

    async def customer(self, customer_id: str) -> CustomerSnapshot:
        return await replica.load_snapshot(self._conn, customer_id)

    async def open_complaints(self, customer_id: str) -> list[str]:
        complaints = await self._conn.fetchval(
            "select open_complaints from customer_replica where customer_id = $1", customer_id)
        return list(complaints or ())

    async def insert_survey(self, survey: SentSurvey) -> None:
        await survey_rows.insert_survey(self._conn, survey_id=survey.survey_id, customer_id=survey.customer_id,
                                        kind=survey.kind, token_hash=survey.token_hash, ticket_id=survey.ticket_id,
                                        campaign_id=None, channel=survey.channel, sent_at=survey.sent_at,
                                        expires_at=survey.expires_at)
        await survey_rows.plan_surveys(self._conn, survey_ids=[uuid.UUID(survey.survey_id)],
                                       customer_ids=[survey.customer_id], purpose=survey.purpose,
                                       order_ids=[survey.order_id], questions=survey.questions,
                                       sent_at=survey.sent_at)

    async def survey_for_answer(self, survey_id: str) -> SurveyState | None:
        try:
            _, state = await survey_rows.load_for_answer(self._conn, survey_id)
        except NotFound:
            return None
        return state

    async def record_score(self, survey_id: str, score: int, at: datetime) -> None:
        await self._conn.execute("update surveys set answered_at = $2, score = $3 where id = $1",
                                 uuid.UUID(survey_id), at, score)

    async def record_answers(self, survey_id: str, answers: Sequence[SurveyQuestionAnswered], at: datetime) -> None:
        await survey_rows.record_answers(self._conn, uuid.UUID(survey_id), answers, at)

    async def record_detractor(self, customer_id: str, at: datetime) -> None:
        await replica.record_detractor(self._conn, customer_id, at)

    async def request_message(self, topic: str, message: MessageRequested) -> None:
        envelope = new_envelope(message, service="campaigns", subject=message.customer_id)
        await Outbox().enqueue_envelope(self._conn, topic, envelope)
