"""The read model the campaigns service's command handlers work through.

Handlers reach the service's own tables (campaigns and their budgets, the marketing policy row, the
service-message templates, surveys and their answers, the customer replica, timers, the message
outbox) only through this port, with no connection in sight, so they run on PostgreSQL
(``services.campaigns.adapters.readmodel.PostgresReadModel``, in the command's transaction) or in
memory (``tests.campaigns.fakes.InMemoryReadModel``, for unit tests) alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

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


class ReadModel(Protocol):
    """Every read and write of the campaigns service's own tables that a command handler needs."""

    # --- campaigns ------------------------------------------------------------------------------------

    async def campaign(self, campaign_id: str) -> dict[str, Any] | None:
        """The campaign as the API shows it (``CampaignRead``); ``None`` when unknown."""
        ...

    async def insert_campaign(
        self, campaign_id: str, definition: CampaignDefinition, raw: dict[str, Any], version: int
    ) -> None:
        """Record a new draft campaign and its budget."""
        ...

    async def update_campaign(
        self, campaign_id: str, definition: CampaignDefinition, raw: dict[str, Any], version: int
    ) -> None:
        """Record a campaign's changed definition and budget."""
        ...

    async def set_campaign_status(self, campaign_id: str, status: CampaignStatus, version: int) -> None:
        """Record a campaign's new status."""
        ...

    async def existing_campaigns(self, campaign_ids: Sequence[UUID]) -> set[UUID]:
        """Which of these campaigns exist."""
        ...

    async def schedule_sweep(self, campaign_id: str, due_at: datetime) -> None:
        """The daily sweep of a scheduled (birthday, inactivity, relationship survey) campaign, from ``due_at``."""
        ...

    # --- the marketing policy and the service-message templates -------------------------------------

    async def save_policy(
        self, version: int, rules: MarketingPolicyRules, changed_by: str | None, changed_at: datetime | None
    ) -> None:
        """The policy the engines decide with (the one row they read per batch)."""
        ...

    async def templates(self) -> Templates:
        """The service-message templates in force (version 0: the defaults)."""
        ...

    async def save_templates(
        self, version: int, templates: Sequence[ServiceMessageTemplate], changed_by: str | None, changed_at: datetime
    ) -> None:
        """The templates the engine words follow-ups with from now on."""
        ...

    # --- customers and surveys ------------------------------------------------------------------------

    async def lock_customer(self, customer_id: str) -> None:
        """Serialise this transaction with others deciding for the customer (held until commit)."""
        ...

    async def customer(self, customer_id: str) -> CustomerSnapshot:
        """The customer as the replica knows them (``known=False`` when nothing says they registered)."""
        ...

    async def open_complaints(self, customer_id: str) -> list[str]:
        """The ids of the customer's open complaint tickets."""
        ...

    async def insert_survey(self, survey: SentSurvey) -> None:
        """Record a sent survey (a relationship survey also as the customer's last one)."""
        ...

    async def survey_for_answer(self, survey_id: str) -> SurveyState | None:
        """The survey, locked until commit (answers to one survey are serialised); ``None`` when unknown."""
        ...

    async def record_score(self, survey_id: str, score: int, at: datetime) -> None:
        """The survey was answered with this score."""
        ...

    async def record_answers(self, survey_id: str, answers: Sequence[SurveyQuestionAnswered], at: datetime) -> None:
        """Which questions were answered (the score or choice, never the text: it stays sealed in the events)."""
        ...

    async def record_detractor(self, customer_id: str, at: datetime) -> None:
        """A detractor answer holds the customer's promotions for a while."""
        ...

    async def request_message(self, topic: str, message: MessageRequested) -> None:
        """Queue a message request on ``topic`` (``campaigns.messages``), sent when the command commits."""
        ...
