"""Account managers' alerts (docs/analytics-rules.md#account-managers-alerts): inbox, acknowledge, KPIs.

Reading needs ``analytics:read`` like every analytics list. Acknowledging is a write about the
relationship with a customer, not analytics: it needs ``customers:write``, the scope account managers
(and team leads) hold in ``shared/web/roles.json``; ``analytics:read`` is read-only by design.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from services.analytics.api import schemas
from services.analytics.api.deps import Now, Pool, Reader, TimeRange
from services.analytics.application import alerts
from shared.web import Principal, require
from shared.web.paging import Cursor
from shared.web.responses import run_and_respond

router = APIRouter(prefix="/v1", tags=["alerts"])

Writer = Annotated[Principal, Depends(require("customers:write"))]

ManagerId = Annotated[
    str | None,
    Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
          description="Only this account manager's alerts; `me` is the caller (the token's subject)."),
]


@router.get("/alerts", response_model=schemas.AlertPage)
async def list_alerts(
    principal: Reader,
    pool: Pool,
    account_manager_id: ManagerId = None,
    customer_id: Annotated[UUID | None, Query(description="Only this customer's alerts.")] = None,
    state: Annotated[schemas.AlertStateName, Query(description="open (default), acknowledged or all.")] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Account managers' alerts, newest first, with the reason and the events behind each."""
    manager = principal.subject if account_manager_id == "me" else account_manager_id
    async with pool.acquire() as conn:
        return await alerts.list_alerts(conn, account_manager_id=manager, customer_id=customer_id, state=state,
                                        limit=limit, cursor=cursor)


@router.post("/alerts/{alert_id}/acknowledge", response_model=schemas.AlertRead)
async def acknowledge_alert(alert_id: UUID, request: Request, principal: Writer, now: Now) -> Response:
    """Acknowledge an alert (publishes ``AccountManagerAlertAcknowledged`` once; again: the alert as it is)."""
    return await run_and_respond(request, lambda uow: alerts.acknowledge(uow, alert_id, by=principal.subject, now=now))


@router.get("/kpis/alerts", response_model=schemas.AlertKpisRead, response_model_by_alias=True)
async def kpi_alerts(principal: Reader, pool: Pool, window: TimeRange) -> dict[str, Any]:
    """Alerts raised in the range: raised, acknowledged, median and mean hours to acknowledge, per manager."""
    async with pool.acquire() as conn:
        return await alerts.kpi_alerts(conn, start=window[0], end=window[1])
