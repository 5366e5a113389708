"""Import jobs submitted over HTTP (``POST /v1/imports``), run in the background of the API process.

A job's state lives in the ``import_jobs`` table of the service that accepted it, updated after every
batch, so ``GET /v1/imports/{id}`` shows progress while it runs and the result after. The uploaded
file is read from disk (``spool_ndjson``) and deleted when the job ends.

A running job touches its row every ``HEARTBEAT`` seconds. A job whose process died (``kill -9``, a
crashed pod) stops touching it; the first read after ``STALE_AFTER`` marks it ``failed`` with the
reason, whichever process answers. Submitting the same file again then resumes it: the ledgers skip
every record that committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from shared.importing.records import Reject
from shared.importing.results import CustomerResolver, ServiceImporter
from shared.importing.runner import ImportSummary, Source, count_lines, file_lines, run_import

log = logging.getLogger(__name__)

MAX_REJECTS_KEPT = 1000
"""Rejects stored with a job (the count is always exact); the CLI writes them all to a file."""

HEARTBEAT = 10.0
"""Seconds between a running job's touches of its row (progress saves touch it too)."""
STALE_AFTER = timedelta(seconds=60)
"""A ``running`` job untouched this long has lost its process: it is reported ``failed``."""
LOST = ("the process running this import stopped before it ended (no heartbeat for {seconds} s); "
        "submit the file again: records already imported are skipped")

_running: set[asyncio.Task[None]] = set()


async def create_job(pool: asyncpg.Pool, job_id: UUID, submitted_by: str | None) -> None:
    await pool.execute("insert into import_jobs (id, status, submitted_by) values ($1, 'running', $2)",
                       job_id, submitted_by)


async def job(pool: asyncpg.Pool, job_id: UUID) -> dict[str, Any] | None:
    """A job's status, counts and (the first) rejects; None when unknown. A lost job is marked failed."""
    seconds = int(STALE_AFTER.total_seconds())
    await pool.execute(
        """update import_jobs set status = 'failed', updated_at = clock_timestamp(),
                  summary = summary || jsonb_build_object('error', $2::text)
           where id = $1 and status = 'running' and updated_at < clock_timestamp() - make_interval(secs => $3)""",
        job_id, LOST.format(seconds=seconds), seconds)
    row = await pool.fetchrow("select id, status, summary, rejects, created_at, updated_at from import_jobs"
                              " where id = $1", job_id)
    if row is None:
        return None
    return {"id": str(row["id"]), "status": row["status"], **row["summary"], "rejects": row["rejects"],
            "created_at": row["created_at"], "updated_at": row["updated_at"]}


def start(pool: asyncpg.Pool, job_id: UUID, body: Path, importers: Mapping[str, ServiceImporter],
          resolver: CustomerResolver, *, owned: Sequence[ServiceImporter] = ()) -> None:
    """Run the job in the background of this process (the task is kept until it ends).

    ``owned`` importers are closed when the job ends (the HTTP clients it opened for the job), and
    ``body`` (the spooled upload) is deleted.
    """
    task = asyncio.create_task(_run(pool, job_id, body, importers, resolver, owned))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _heartbeat(pool: asyncpg.Pool, job_id: UUID) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT)
        try:
            await pool.execute("update import_jobs set updated_at = clock_timestamp() where id = $1"
                               " and status = 'running'", job_id)
        except (OSError, asyncpg.PostgresError):
            log.warning("import job heartbeat failed", extra={"job_id": str(job_id)}, exc_info=True)


async def _run(pool: asyncpg.Pool, job_id: UUID, body: Path, importers: Mapping[str, ServiceImporter],
               resolver: CustomerResolver, owned: Sequence[ServiceImporter]) -> None:
    kept: list[Reject] = []
    beating = asyncio.create_task(_heartbeat(pool, job_id))
    try:
        await _work(pool, job_id, body, importers, resolver, kept)
    finally:
        beating.cancel()
        await asyncio.to_thread(body.unlink, True)
        for importer in owned:
            await importer.close()


async def _work(pool: asyncpg.Pool, job_id: UUID, body: Path, importers: Mapping[str, ServiceImporter],
                resolver: CustomerResolver, kept: list[Reject]) -> None:
    total = await asyncio.to_thread(count_lines, [str(body)])

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
        summary = await run_import([Source("upload", file_lines(body))], importers, resolver,
                                   rejects=_Sink(), progress=on_progress)  # type: ignore[arg-type]
        await save("succeeded", summary)
    except Exception as exc:  # a job must end in a state the operator can read, whatever failed
        log.exception("import job failed", extra={"job_id": str(job_id)})
        await save("failed", progress[-1] if progress else ImportSummary(), error=repr(exc))
