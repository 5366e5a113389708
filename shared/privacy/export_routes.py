"""The route every service serves its part of a customer's export on (``shared.privacy.export``).

Kept apart from the part-building helpers so that ``application/`` code builds its part without
importing the web kit; ``api/`` includes this router.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request

from shared.privacy.export import PART_ROUTE
from shared.web.auth import Principal, require

PartExporter = Callable[[Request, UUID], Awaitable[dict[str, Any]]]


def export_part_router(export: PartExporter) -> APIRouter:
    """The per-customer export route of a service, answering what ``export`` gathers.

    It is included in the service's ``/v1`` router, like every other route of the service.
    """
    router = APIRouter(tags=["internal"])

    @router.get(PART_ROUTE, responses={200: {"content": {"application/json": {"example": {
        "service": "ticketing", "exported_at": "2026-12-05T18:00:00.000000Z",
        "sections": {"tickets": []}, "tables": {"tickets": "tickets"},
        "not_personal": {"import_ledger": "maps a source system's record id to ours; no data about the person"},
    }}}}})
    async def customer_export_part(
        customer_id: UUID, request: Request, principal: Annotated[Principal, Depends(require("keys:read"))]
    ) -> dict[str, Any]:
        """This service's part of a customer's export: every row and event it holds about them."""
        return await export(request, customer_id)

    return router
