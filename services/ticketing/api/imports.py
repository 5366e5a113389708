"""Bulk import over HTTP, ticketing's part (issue 18, ``docs/import.md``): scope ``admin``.

``POST /v1/imports/batches`` imports tickets whose customers the caller (the customer service's import
job, or any client) already resolved to customer ids; ticketing never reads the customer database.
Rows are validated again here; refused rows come back as rejects with their line and reason.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.ticketing.application.importing import Importer
from shared.importing.http import ImportAdmin as Admin
from shared.importing.http import batch_records
from shared.importing.remote import BatchAnswer, BatchRequest

router = APIRouter(prefix="/v1", tags=["imports"])


@router.post("/imports/batches", response_model=BatchAnswer, tags=["imports"])
async def import_batch(body: BatchRequest, request: Request, principal: Admin) -> BatchAnswer:
    """Import validated tickets (one transaction per batch; re-sending creates nothing)."""
    importer = Importer(request.app.state.pool, request.app.state.store, request.app.state.policy)
    good, bad = batch_records(body, importer.kinds)
    result = await importer.import_batch(good, body.customers)
    result.rejects.extend(bad)
    return BatchAnswer.of(result)
