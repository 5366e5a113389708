"""Thin routes: parse → run a handler in a unit of work → answer."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.campaigns.api.deps import Cursor, Limit, Reader, Writer
from services.campaigns.api.schemas import (
    CampaignCreate,
    CampaignPage,
    CampaignRead,
    CampaignUpdate,
    PerformanceRead,
    SurveyCreate,
    SurveyRead,
    SurveyResponseCreate,
    SurveyResponseRead,
)
from services.campaigns.application import handlers, queries
from services.campaigns.domain.model import CampaignStatus
from shared.web import IdempotencyKey, IfMatch, etag_for
from shared.web.responses import run_and_respond

router = APIRouter(tags=["campaigns"])


@router.post("/v1/campaigns", status_code=201, response_model=CampaignRead)
async def create_campaign(body: CampaignCreate, request: Request, idempotency: IdempotencyKey,
                          principal: Writer) -> Response:
    """Save a new campaign as a draft.

    The definition is checked as a whole (422 with the field at fault), beyond what the schema says:
    a trigger has an ``event_type`` or a ``schedule``, not both (an inactivity schedule needs
    ``inactivity_days``); a ``condition`` is an expression over the trigger event's fields; an offer names
    a ``sku`` or a ``category``, or takes it ``from_recommendations`` (then neither); a survey action names
    its ``survey_kind``; ``ends_at`` is after ``starts_at``; budget amounts are not negative.
    """
    document = body.model_dump(mode="json")
    return await run_and_respond(request, lambda uow: handlers.create_campaign(uow, document=document), idempotency)


@router.get("/v1/campaigns", response_model=CampaignPage)
async def list_campaigns(request: Request, principal: Reader, limit: Limit = 50, cursor: Cursor = None,
                         status: CampaignStatus | None = None) -> dict[str, object]:
    """List campaigns, newest first."""
    async with request.app.state.pool.acquire() as conn:
        return await queries.list_campaigns(conn, status=status.value if status else None, limit=limit,
                                            cursor=cursor)


@router.get("/v1/campaigns/{campaign_id}", response_model=CampaignRead)
async def get_campaign(campaign_id: str, request: Request, response: Response, principal: Reader) -> dict[str, object]:
    """One campaign with its status (ETag = version)."""
    async with request.app.state.pool.acquire() as conn:
        body = await queries.campaign_read(conn, campaign_id)
    response.headers["ETag"] = etag_for(int(str(body["version"])))
    return body


@router.patch("/v1/campaigns/{campaign_id}", response_model=CampaignRead)
async def update_campaign(campaign_id: str, body: CampaignUpdate, request: Request, if_match: IfMatch,
                          principal: Writer) -> Response:
    """Change a draft or paused campaign.

    The definition is checked as a whole (422 with the field at fault), beyond what the schema says:
    a trigger has an ``event_type`` or a ``schedule``, not both (an inactivity schedule needs
    ``inactivity_days``); a ``condition`` is an expression over the trigger event's fields; an offer names
    a ``sku`` or a ``category``, or takes it ``from_recommendations`` (then neither); a survey action names
    its ``survey_kind``; ``ends_at`` is after ``starts_at``; budget amounts are not negative.
    """
    changes = body.model_dump(mode="json", exclude_unset=True)
    return await run_and_respond(request, lambda uow: handlers.update_campaign(
        uow, campaign_id=campaign_id, changes=changes, if_match=if_match))


async def _status(request: Request, campaign_id: str, to: CampaignStatus, if_match: int | None) -> Response:
    now = request.app.state.clock.now()
    return await run_and_respond(request, lambda uow: handlers.change_status(
        uow, campaign_id=campaign_id, to=to, if_match=if_match, now=now))


@router.post("/v1/campaigns/{campaign_id}/activate", response_model=CampaignRead)
async def activate(campaign_id: str, request: Request, if_match: IfMatch, principal: Writer) -> Response:
    """Start reacting to events."""
    return await _status(request, campaign_id, CampaignStatus.ACTIVE, if_match)


@router.post("/v1/campaigns/{campaign_id}/pause", response_model=CampaignRead)
async def pause(campaign_id: str, request: Request, if_match: IfMatch, principal: Writer) -> Response:
    """Stop reacting to events for now."""
    return await _status(request, campaign_id, CampaignStatus.PAUSED, if_match)


@router.post("/v1/campaigns/{campaign_id}/complete", response_model=CampaignRead)
async def complete(campaign_id: str, request: Request, if_match: IfMatch, principal: Writer) -> Response:
    """End the campaign for good."""
    return await _status(request, campaign_id, CampaignStatus.COMPLETED, if_match)


@router.get("/v1/campaigns/{campaign_id}/performance", response_model=PerformanceRead)
async def performance(campaign_id: str, request: Request, principal: Reader) -> dict[str, object]:
    """Sent, suppressed by reason, held out, redeemed, conversion rates, uplift, revenue, margin, cost, ROI."""
    async with request.app.state.pool.acquire() as conn:
        return await queries.campaign_performance(conn, campaign_id)


@router.post("/v1/surveys", status_code=201, response_model=SurveyRead, tags=["surveys"])
async def send_survey(body: SurveyCreate, request: Request, idempotency: IdempotencyKey,
                      principal: Writer) -> Response:
    """Send an NPS or CSAT survey to a customer."""
    state = request.app.state
    now = state.clock.now()
    return await run_and_respond(request, lambda uow: handlers.send_survey(
        uow, state.engine, customer_id=body.customer_id, kind=body.kind, ticket_id=body.ticket_id, now=now),
        idempotency)


@router.post("/v1/surveys/{survey_id}/responses", status_code=201, response_model=SurveyResponseRead,
             tags=["surveys"])
async def answer_survey(survey_id: str, body: SurveyResponseCreate, request: Request) -> Response:
    """Answer a survey from its link (no bearer token: the response token proves it)."""
    now = request.app.state.clock.now()
    return await run_and_respond(request, lambda uow: handlers.answer(
        uow, survey_id=survey_id, token=body.token, score=body.score, comment=body.comment, now=now))
