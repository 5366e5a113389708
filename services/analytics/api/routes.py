"""Thin routes: parse, call a query, answer. Every route needs ``analytics:read`` (or self for a 360)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request

from services.analytics.api import schemas
from services.analytics.api.deps import Now, OwnReader, Pool, Reader, Rules, TimeRange, utc
from services.analytics.application import export, queries
from services.analytics.domain.model import HANDLED_EVENT_TYPES
from shared.privacy.export_routes import export_part_router
from shared.web.audit import viewed
from shared.web.paging import Cursor, Limit
from shared.web.types import Instant

router = APIRouter(prefix="/v1", tags=["analytics"])



@router.get("/customers/{customer_id}/360", response_model=schemas.Customer360Read)
async def customer_360(
    customer_id: UUID,
    request: Request,
    principal: OwnReader,
    pool: Pool,
    rules: Rules,
    now: Now,
    as_of: Annotated[Instant | None, Query(description="Answer the view as it was at this instant.")] = None,
) -> dict[str, Any]:
    """The customer's 360° view, now or as of an instant."""
    moment = utc(as_of, "as_of") if as_of is not None else None
    async with pool.acquire() as conn:
        view = await queries.customer_360(conn, str(customer_id), rules=rules, now=now, as_of=moment)
    await viewed(request, customer_id, "customer_360")
    return view


@router.get("/customers/{customer_id}/timeline", response_model=schemas.TimelinePage)
async def customer_timeline(
    customer_id: UUID,
    request: Request,
    principal: OwnReader,
    pool: Pool,
    type: Annotated[list[schemas.EventTypeName] | None,
                    Query(description="Only these event types (repeatable).")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Every event of every domain for the customer, newest first."""
    async with pool.acquire() as conn:
        page = await queries.timeline(conn, str(customer_id), types=type, limit=limit, cursor=cursor)
    await viewed(request, customer_id, "customer_timeline")
    return page


@router.get("/customers", response_model=schemas.CustomerListPage)
async def list_customers(
    principal: Reader,
    pool: Pool,
    segment: schemas.SegmentName | None = None,
    lifecycle_stage: schemas.StageName | None = None,
    churn_band: schemas.BandName | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="Name prefix or customer id.")] = None,
    sort: schemas.SortName = "-clv",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Customers by segment, lifecycle stage, churn band or name, sorted (by CLV by default)."""
    async with pool.acquire() as conn:
        return await queries.list_customers(
            conn,
            segment=segment,
            lifecycle_stage=lifecycle_stage,
            churn_band=churn_band,
            q=q,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )


@router.get("/kpis/nps")
async def kpi_nps(
    principal: Reader, pool: Pool, rules: Rules, window: TimeRange, period: schemas.PeriodName = "month"
) -> dict[str, Any]:
    """Net Promoter Score for a range, by period and by segment."""
    async with pool.acquire() as conn:
        return await queries.kpi_nps(conn, start=window[0], end=window[1], period=period, rules=rules)


@router.get("/kpis/nps/reasons", response_model=schemas.NpsReasonsRead, response_model_by_alias=True)
async def kpi_nps_reasons(
    principal: Reader,
    pool: Pool,
    rules: Rules,
    window: TimeRange,
    period: schemas.PeriodName = "month",
    segment: Annotated[schemas.SegmentName | None,
                       Query(description="Only customers now in this segment.")] = None,
    top: Annotated[int, Query(ge=1, le=50, description="Terms per NPS band.")] = 10,
) -> dict[str, Any]:
    """NPS per period and per segment, with why: the most mentioned words and phrases of the reasons
    ("what is the main reason for your score?") of promoters, passives and detractors.

    Only terms are kept, never the text (opened with the customer's key at ingestion, stop words
    removed); an erased customer's reasons are no longer counted.
    """
    async with pool.acquire() as conn:
        return await queries.kpi_nps_reasons(conn, start=window[0], end=window[1], period=period, segment=segment,
                                             top=top, rules=rules)


@router.get("/kpis/churn")
async def kpi_churn(principal: Reader, pool: Pool, window: TimeRange) -> dict[str, Any]:
    """Monthly churn rate (active at the month's start, dissolved in it)."""
    async with pool.acquire() as conn:
        return await queries.kpi_churn(conn, start=window[0], end=window[1])


@router.get("/kpis/clv")
async def kpi_clv(principal: Reader, pool: Pool, window: TimeRange) -> dict[str, Any]:
    """CLV distribution and by acquisition channel, for customers acquired in the range."""
    async with pool.acquire() as conn:
        return await queries.kpi_clv(conn, start=window[0], end=window[1])


@router.get("/kpis/service")
async def kpi_service(principal: Reader, pool: Pool, window: TimeRange) -> dict[str, Any]:
    """Service KPIs: response and resolution times, SLA breaches, transfers, first-contact resolution."""
    async with pool.acquire() as conn:
        return await queries.kpi_service(conn, start=window[0], end=window[1])


@router.get("/kpis/campaigns")
async def kpi_campaigns(principal: Reader, pool: Pool, window: TimeRange) -> dict[str, Any]:
    """Per campaign: sends, conversions against the control group, uplift and ROI."""
    async with pool.acquire() as conn:
        return await queries.kpi_campaigns(conn, start=window[0], end=window[1])


@router.get("/event-types")
async def event_types(principal: Reader) -> dict[str, list[str]]:
    """Event types the 360 fold understands (others still appear in the timeline)."""
    return {"items": sorted(HANDLED_EVENT_TYPES)}


async def _export_part(request: Request, customer_id: UUID) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        return await export.export_part(conn, customer_id, rules=request.app.state.rules,
                                        now=request.app.state.clock.now())


router.include_router(export_part_router(_export_part))
