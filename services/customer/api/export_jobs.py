"""Export jobs outlive the API process that started them: adoption from start-up (issue 20.1).

A router with no routes, only a lifespan, included after the app's own (so the pool exists): it sets
this process's lease length from the settings and runs ``exports.Adopter``, which at once and then
every third of a lease restarts the export jobs whose process died. Every replica runs one; each job
goes to one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import APIRouter, FastAPI

from services.customer.application import exports
from services.customer.config import CustomerSettings


def export_jobs_router(settings: CustomerSettings) -> APIRouter:
    """The router whose lifespan adopts orphaned export jobs while the API runs."""
    seconds = settings.export_lease_seconds
    lease = timedelta(seconds=seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        exports.PROCESS.lease = lease
        gatherer = exports.Gatherer(app.state.pool, app.state.store, app.state.clock, parts=app.state.export_parts)
        adopter = asyncio.create_task(exports.Adopter(gatherer, interval=lease.total_seconds() / 3).run())
        try:
            yield
        finally:
            adopter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await adopter

    return APIRouter(lifespan=lifespan)
