"""The campaigns read model in memory: ``application.ports.ReadModel`` over dicts, for handler unit tests."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.campaigns.domain.decision import CustomerSnapshot
from services.campaigns.domain.model import CampaignDefinition, CampaignStatus
from services.campaigns.domain.service_messages import DEFAULT_TEMPLATES, Templates
from services.campaigns.domain.surveys import SentSurvey, SurveyState
from shared.contracts.campaigns import (
    Channel,
    MarketingPolicyRules,
    MessageRequested,
    ServiceMessageTemplate,
    SurveyPurpose,
    SurveyQuestionAnswered,
)
from shared.testing.fakes import EPOCH


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class InMemoryReadModel:
    """The service's tables as plain dicts and lists; tests read them directly to see what was written."""

    def __init__(self, *, now: datetime = EPOCH) -> None:
        self.now = now
        """What the database's ``now()`` would say (the rows' ``created_at`` / ``updated_at``)."""
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.budgets: dict[str, Any] = {}
        self.sweeps: list[tuple[str, datetime]] = []
        self.policy: dict[str, Any] | None = None
        self.current_templates = Templates(0, DEFAULT_TEMPLATES)
        self.customers: dict[str, CustomerSnapshot] = {}
        self.complaints: dict[str, list[str]] = {}
        self.locked: list[str] = []
        self.surveys: dict[str, SurveyState] = {}
        self.survey_channels: dict[str, Channel | None] = {}
        self.answers: dict[str, list[SurveyQuestionAnswered]] = {}
        self.detractors: dict[str, datetime] = {}
        self.messages: list[tuple[str, MessageRequested]] = []

    # --- campaigns ------------------------------------------------------------------------------------

    async def campaign(self, campaign_id: str) -> dict[str, Any] | None:
        row = self.campaigns.get(campaign_id)
        if row is None:
            return None
        return {"id": campaign_id, "status": row["status"], "version": row["version"],
                "created_at": _stamp(row["created_at"]), "updated_at": _stamp(row["updated_at"]), **row["definition"]}

    async def insert_campaign(
        self, campaign_id: str, definition: CampaignDefinition, raw: dict[str, Any], version: int
    ) -> None:
        self.campaigns[campaign_id] = {"status": "draft", "version": version, "definition": raw,
                                       "created_at": self.now, "updated_at": self.now}
        self.budgets[campaign_id] = definition.budget.total if definition.budget else None

    async def update_campaign(
        self, campaign_id: str, definition: CampaignDefinition, raw: dict[str, Any], version: int
    ) -> None:
        self.campaigns[campaign_id].update(definition=raw, version=version, updated_at=self.now)
        self.budgets[campaign_id] = definition.budget.total if definition.budget else None

    async def set_campaign_status(self, campaign_id: str, status: CampaignStatus, version: int) -> None:
        self.campaigns[campaign_id].update(status=status.value, version=version, updated_at=self.now)

    async def existing_campaigns(self, campaign_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return {c for c in campaign_ids if str(c) in self.campaigns}

    async def schedule_sweep(self, campaign_id: str, due_at: datetime) -> None:
        self.sweeps.append((campaign_id, due_at))

    # --- the marketing policy and the service-message templates -------------------------------------

    async def save_policy(
        self, version: int, rules: MarketingPolicyRules, changed_by: str | None, changed_at: datetime | None
    ) -> None:
        self.policy = {"version": version, "rules": rules, "changed_by": changed_by, "changed_at": changed_at}

    async def templates(self) -> Templates:
        return self.current_templates

    async def save_templates(
        self, version: int, templates: Sequence[ServiceMessageTemplate], changed_by: str | None, changed_at: datetime
    ) -> None:
        self.current_templates = Templates(version, tuple(templates), changed_by, changed_at)

    # --- customers and surveys ------------------------------------------------------------------------

    async def lock_customer(self, customer_id: str) -> None:
        self.locked.append(customer_id)

    async def customer(self, customer_id: str) -> CustomerSnapshot:
        return self.customers.get(customer_id) or CustomerSnapshot(customer_id=customer_id, known=False)

    async def open_complaints(self, customer_id: str) -> list[str]:
        return list(self.complaints.get(customer_id, ()))

    async def insert_survey(self, survey: SentSurvey) -> None:
        self.surveys[survey.survey_id] = SurveyState(
            survey_id=survey.survey_id, customer_id=survey.customer_id, kind=survey.kind, token=survey.token_hash,
            expires_at=survey.expires_at, ticket_id=survey.ticket_id, purpose=survey.purpose,
            order_id=survey.order_id, questions=survey.questions)
        self.survey_channels[survey.survey_id] = survey.channel
        if survey.purpose is SurveyPurpose.RELATIONSHIP:
            known = await self.customer(survey.customer_id)
            last = known.last_relationship_survey_at
            self.customers[survey.customer_id] = dataclasses.replace(
                known, last_relationship_survey_at=survey.sent_at if last is None else max(last, survey.sent_at))

    async def survey_for_answer(self, survey_id: str) -> SurveyState | None:
        return self.surveys.get(survey_id)

    async def record_score(self, survey_id: str, score: int, at: datetime) -> None:
        self.surveys[survey_id] = dataclasses.replace(self.surveys[survey_id], answered=True, score=score)

    async def record_answers(self, survey_id: str, answers: Sequence[SurveyQuestionAnswered], at: datetime) -> None:
        self.answers.setdefault(survey_id, []).extend(answers)
        survey = self.surveys[survey_id]
        self.surveys[survey_id] = dataclasses.replace(
            survey, answered_questions=survey.answered_questions | {a.question_id for a in answers})

    async def record_detractor(self, customer_id: str, at: datetime) -> None:
        last = self.detractors.get(customer_id)
        self.detractors[customer_id] = at if last is None else max(last, at)

    async def request_message(self, topic: str, message: MessageRequested) -> None:
        self.messages.append((topic, message))
