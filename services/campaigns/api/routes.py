"""Thin routes: parse → run a handler in a unit of work → answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response

from services.campaigns.adapters import surveys as survey_store
from services.campaigns.api.deps import Reader, Writer
from services.campaigns.api.schemas import (
    CampaignCreate,
    CampaignPage,
    CampaignRead,
    CampaignUpdate,
    PerformanceRead,
    QuestionAnswerCreate,
    QuestionAnswerRead,
    SurveyCreate,
    SurveyDetail,
    SurveyRead,
    SurveyResponseCreate,
    SurveyResponseRead,
)
from services.campaigns.application import export, handlers, queries, surveys
from services.campaigns.domain.model import CampaignStatus
from services.campaigns.domain.surveys import GivenAnswer
from shared.privacy.export_routes import export_part_router
from shared.web import IdempotencyKey, IfMatch, etag_for
from shared.web.paging import Cursor, Limit
from shared.web.responses import run_and_respond

router = APIRouter(prefix="/v1", tags=["campaigns"])

_DEFINITION_CHECKS = """The definition is checked as a whole (422 with the field at fault), beyond what the schema says:
a trigger has an ``event_type`` or a ``schedule``, not both (an inactivity schedule needs
``inactivity_days``); a ``condition`` is an expression over the trigger event's fields; an offer names
a ``sku`` or a ``category``, or takes it ``from_recommendations`` (then neither); a survey action names
its ``survey_kind``; ``ends_at`` is after ``starts_at``; budget amounts are not negative."""
"""What creating and changing a campaign both check, told once in both operations' OpenAPI descriptions."""


@router.post("/campaigns", status_code=201, response_model=CampaignRead,
             description=f"Save a new campaign as a draft.\n\n{_DEFINITION_CHECKS}")
async def create_campaign(body: CampaignCreate, request: Request, idempotency: IdempotencyKey,
                          principal: Writer) -> Response:
    """Save a new campaign as a draft (the OpenAPI description adds the definition's checks)."""
    document = body.model_dump(mode="json")
    return await run_and_respond(request, lambda uow: handlers.create_campaign(uow, document=document), idempotency,
                                 location="/v1/campaigns/{id}")


@router.get("/campaigns", response_model=CampaignPage)
async def list_campaigns(request: Request, principal: Reader, limit: Limit = 50, cursor: Cursor = None,
                         status: CampaignStatus | None = None) -> dict[str, object]:
    """List campaigns, newest first."""
    async with request.app.state.pool.acquire() as conn:
        return await queries.list_campaigns(conn, status=status.value if status else None, limit=limit,
                                            cursor=cursor)


@router.get("/campaigns/{campaign_id}", response_model=CampaignRead)
async def get_campaign(campaign_id: str, request: Request, response: Response, principal: Reader) -> dict[str, object]:
    """One campaign with its status (ETag = version)."""
    async with request.app.state.pool.acquire() as conn:
        body = await queries.campaign_read(conn, campaign_id)
    response.headers["ETag"] = etag_for(int(str(body["version"])))
    return body


@router.patch("/campaigns/{campaign_id}", response_model=CampaignRead,
              description=f"Change a draft or paused campaign.\n\n{_DEFINITION_CHECKS}")
async def update_campaign(campaign_id: str, body: CampaignUpdate, request: Request, if_match: IfMatch,
                          principal: Writer) -> Response:
    """Change a draft or paused campaign (the OpenAPI description adds the definition's checks)."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    return await run_and_respond(request, lambda uow: handlers.update_campaign(
        uow, campaign_id=campaign_id, changes=changes, if_match=if_match))


async def _status(request: Request, campaign_id: str, to: CampaignStatus, if_match: int | None) -> Response:
    now = request.app.state.clock.now()
    return await run_and_respond(request, lambda uow: handlers.change_status(
        uow, campaign_id=campaign_id, to=to, if_match=if_match, now=now))


@router.post("/campaigns/{campaign_id}/activate", response_model=CampaignRead)
async def activate(campaign_id: str, request: Request, if_match: IfMatch, principal: Writer) -> Response:
    """Start reacting to events."""
    return await _status(request, campaign_id, CampaignStatus.ACTIVE, if_match)


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignRead)
async def pause(campaign_id: str, request: Request, if_match: IfMatch, principal: Writer) -> Response:
    """Stop reacting to events for now."""
    return await _status(request, campaign_id, CampaignStatus.PAUSED, if_match)


@router.post("/campaigns/{campaign_id}/complete", response_model=CampaignRead)
async def complete(campaign_id: str, request: Request, if_match: IfMatch, principal: Writer) -> Response:
    """End the campaign for good."""
    return await _status(request, campaign_id, CampaignStatus.COMPLETED, if_match)


@router.get("/campaigns/{campaign_id}/performance", response_model=PerformanceRead)
async def performance(campaign_id: str, request: Request, principal: Reader) -> dict[str, object]:
    """Sent, suppressed by reason, held out, redeemed, conversion rates, uplift, revenue, margin, cost, ROI."""
    async with request.app.state.pool.acquire() as conn:
        return await queries.campaign_performance(conn, campaign_id)


@router.post("/surveys", status_code=201, response_model=SurveyRead, tags=["surveys"])
async def send_survey(body: SurveyCreate, request: Request, idempotency: IdempotencyKey,
                      principal: Writer) -> Response:
    """Send an NPS or CSAT survey to a customer: the score, "what is the main reason for your score?", extras.

    A ``transactional`` survey names the resolved ticket (``ticket_id``) or delivered order (``order_id``) it
    asks about, and a ticket still open as a complaint is refused (409). A ``relationship`` survey names
    neither, and is refused (409) while the customer has an open complaint or was sent one within
    ``period_days``. Extra questions: ids of their own, a choice with 2-10 distinct options (else 422).
    """
    state = request.app.state
    now = state.clock.now()
    return await run_and_respond(request, lambda uow: surveys.send_survey(
        uow, messages_topic=state.engine.messages_topic, customer_id=body.customer_id, kind=body.kind,
        ticket_id=body.ticket_id, now=now, purpose=body.purpose, order_id=body.order_id,
        period=timedelta(days=body.period_days), extra_questions=body.questions), idempotency,
        location="/v1/surveys/{id}")


@router.get("/surveys/{survey_id}", response_model=SurveyDetail, tags=["surveys"])
async def get_survey(survey_id: str, request: Request, principal: Reader) -> dict[str, object]:
    """A survey: its questions, status and which were answered (free text stays sealed in the event log)."""
    async with request.app.state.pool.acquire() as conn:
        return await survey_store.survey_read(conn, survey_id)


@router.post("/surveys/{survey_id}/responses", status_code=201, response_model=SurveyResponseRead,
             tags=["surveys"])
async def answer_survey(survey_id: str, body: SurveyResponseCreate, request: Request) -> Response:
    """Answer a survey from its link (no bearer token: the response token proves it).

    The score, and optionally at once the reason (``reason``, or ``comment``) and extra answers; each
    question is answered once (409), before the survey expires (410).
    """
    now = request.app.state.clock.now()
    given = [GivenAnswer(a.question_id, score=a.score, choice=a.choice) for a in body.answers]
    return await run_and_respond(request, lambda uow: surveys.answer(
        uow, survey_id=survey_id, token=body.token, score=body.score, comment=body.comment, now=now,
        reason=body.reason, answers=given))


@router.post("/surveys/{survey_id}/answers", status_code=201, response_model=QuestionAnswerRead,
             tags=["surveys"])
async def answer_question(survey_id: str, body: QuestionAnswerCreate, request: Request) -> Response:
    """Answer one more question after the score (the link's next page): the reason as ``text``, or an extra.

    No bearer token: the response token proves it. The score comes first (409 before it), each
    question once (409); a value of the wrong kind or out of range is a 422.
    """
    now = request.app.state.clock.now()
    given = GivenAnswer(body.question_id, score=body.score, choice=body.choice, text=body.text)
    return await run_and_respond(request, lambda uow: surveys.answer_question(
        uow, survey_id=survey_id, token=body.token, answer=given, now=now))


# --- right of access -------------------------------------------------------------------------------


async def _export_part(request: Request, customer_id: UUID) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        return await export.export_part(conn, request.app.state.store, customer_id, now=request.app.state.clock.now())


router.include_router(export_part_router(_export_part))
