"""Bulk import over HTTP (issue 18, ``docs/import.md``): operations teams without shell access.

``POST /v1/imports`` takes the same NDJSON as ``c360 import`` and answers 202 with a job; the job
imports customers, orders, invoices and payments here and hands tickets and survey answers, with
their customers resolved, to ticketing's and campaigns' ``/v1/imports/batches``. ``GET
/v1/imports/{id}`` reports progress and the result (counts, rejects with line and reason).
``POST /v1/imports/batches`` is the same batch endpoint the other services serve. Scope ``admin``.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.customer.application.importing import Importer
from services.customer.config import CustomerSettings
from shared.errors import NotFound
from shared.ids import new_id
from shared.importing import jobs
from shared.importing.http import NDJSON_REQUEST_BODY, batch_records, spool_ndjson
from shared.importing.http import ImportAdmin as Admin
from shared.importing.remote import BatchAnswer, BatchRequest, HttpImporter
from shared.importing.results import ServiceImporter
from shared.web.app import app_settings

router = APIRouter(prefix="/v1", tags=["imports"])


def _importer(request: Request) -> Importer:
    return Importer(request.app.state.pool, request.app.state.store)


@router.post("/imports", status_code=202, tags=["imports"], openapi_extra=NDJSON_REQUEST_BODY)
async def submit_import(request: Request, principal: Admin) -> JSONResponse:
    """Start an import job from an NDJSON body (streamed to disk); poll its Location for progress and result."""
    body = await spool_ndjson(request)
    settings = app_settings(request.app, CustomerSettings)
    token = request.headers["authorization"].split(" ", 1)[1]
    here = _importer(request)
    remote = [HttpImporter(settings.ticketing_api_url, token, ("ticket",)),
              HttpImporter(settings.campaigns_api_url, token, ("survey_answer",))]
    importers: dict[str, ServiceImporter] = {"customer": here, "ticketing": remote[0], "campaigns": remote[1]}
    job_id = new_id()
    try:
        await jobs.create_job(request.app.state.pool, job_id, principal.subject)
    except BaseException:
        await asyncio.to_thread(body.unlink, True)
        for importer in remote:
            await importer.close()
        raise
    jobs.start(request.app.state.pool, job_id, body, importers, here, owned=remote)
    return JSONResponse({"id": str(job_id), "status": "running"}, status_code=202,
                        headers={"Location": f"/v1/imports/{job_id}"})


@router.get("/imports/{job_id}", tags=["imports"])
async def import_job(job_id: UUID, request: Request, principal: Admin) -> dict[str, Any]:
    """An import job's status, counts per service and rejects (line and reason)."""
    found = await jobs.job(request.app.state.pool, job_id)
    if found is None:
        raise NotFound(f"import job {job_id} does not exist")
    return found


@router.post("/imports/batches", response_model=BatchAnswer, tags=["imports"])
async def import_batch(body: BatchRequest, request: Request, principal: Admin) -> BatchAnswer:
    """Import validated customer, order, invoice and payment records (one transaction per batch)."""
    importer = _importer(request)
    good, bad = batch_records(body, importer.kinds)
    result = await importer.import_batch(good, body.customers)
    result.rejects.extend(bad)
    return BatchAnswer.of(result)
