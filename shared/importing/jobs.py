"""Import jobs submitted over HTTP (``POST /v1/imports``), run in the background of the API process.

A job's state lives in the ``import_jobs`` table of the service that accepted it, updated after every
batch, so ``GET /v1/imports/{id}`` shows progress while it runs and the result after. A job whose
process died stays ``running``; submitting the same file again is safe (the ledgers make it resume).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from shared.importing.records import Reject
from shared.importing.results import CustomerResolver, ServiceImporter
from shared.importing.runner import ImportSummary, Source, run_import

log = logging.getLogger(__name__)

MAX_REJECTS_KEPT = 1000
"""Rejects stored with a job (the count is always exact); the CLI writes them all to a file."""

_running: set[asyncio.Task[None]] = set()


async def create_job(pool: asyncpg.Pool, job_id: UUID, submitted_by: str | None) -> None:
    await pool.execute("insert into import_jobs (id, status, submitted_by) values ($1, 'running', $2)",
                       job_id, submitted_by)


async def job(pool: asyncpg.Pool, job_id: UUID) -> dict[str, Any] | None:
    """A job's status, counts and (the first) rejects; None when unknown."""
    row = await pool.fetchrow("select id, status, summary, rejects, created_at, updated_at from import_jobs"
                              " where id = $1", job_id)
    if row is None:
        return None
    return {"id": str(row["id"]), "status": row["status"], **row["summary"], "rejects": row["rejects"],
            "created_at": row["created_at"], "updated_at": row["updated_at"]}


def start(pool: asyncpg.Pool, job_id: UUID, body: bytes, importers: Mapping[str, ServiceImporter],
          resolver: CustomerResolver, *, owned: Sequence[ServiceImporter] = ()) -> None:
    """Run the job in the background of this process (the task is kept until it ends).

    ``owned`` importers are closed when the job ends (the HTTP clients it opened for the job).
    """
    task = asyncio.create_task(_run(pool, job_id, body, importers, resolver, owned))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _run(pool: asyncpg.Pool, job_id: UUID, body: bytes, importers: Mapping[str, ServiceImporter],
               resolver: CustomerResolver, owned: Sequence[ServiceImporter]) -> None:
    kept: list[Reject] = []
    total = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)

    def keep(chunk: bytes) -> int:
        for line in chunk.splitlines():
            if len(kept) < MAX_REJECTS_KEPT:
                kept.append(Reject.model_validate_json(line))
        return len(chunk)

    class _Sink:
        def write(self, data: bytes) -> int:
            return keep(data)

        def flush(self) -> None:
            return None

    async def save(status: str, summary: ImportSummary, error: str | None = None) -> None:
        state = {**summary.as_dict(), "total": total, **({"error": error} if error else {})}
        await pool.execute("update import_jobs set status = $2, summary = $3, rejects = $4,"
                           " updated_at = clock_timestamp() where id = $1", job_id, status, state,
                           [r.model_dump(exclude_none=True) for r in kept])

    progress: list[ImportSummary] = []

    async def on_progress(done: int, summary: ImportSummary) -> None:
        progress.append(summary)
        await save("running", summary)

    try:
        summary = await run_import([Source("upload", body.splitlines(keepends=True))], importers, resolver,
                                   rejects=_Sink(), progress=on_progress)  # type: ignore[arg-type]
        await save("succeeded", summary)
    except Exception as exc:  # a job must end in a state the operator can read, whatever failed
        log.exception("import job failed", extra={"job_id": str(job_id)})
        await save("failed", progress[-1] if progress else ImportSummary(), error=repr(exc))
    finally:
        for importer in owned:
            await importer.close()
