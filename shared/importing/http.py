"""What the import routes of every owning service share: NDJSON bodies and the batch endpoint's work.

The routes themselves live in each service (``services/<svc>/api/imports.py``); this keeps their
checks identical: an admin token, NDJSON or JSON content types, problem+json for anything else.
An NDJSON upload is streamed to disk (``spool_ndjson``), so its limit is ``IMPORT_MAX_BODY_BYTES``,
not the 1 MB every other body has.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request

from shared.errors import InvalidInput, PlatformError
from shared.importing.records import Numbered, Reject, parse_record
from shared.importing.remote import BatchRequest
from shared.web import Principal, require

ImportAdmin = Annotated[Principal, Depends(require("admin"))]
"""Every import route needs scope ``admin``: an import writes history for every customer."""

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "text/plain")

NDJSON_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "NDJSON: one import record (schemas/import/record.json) per line, UTF-8.",
        "content": {media: {"schema": {"type": "string", "minLength": 1, "pattern": r"\S"}}
                    for media in NDJSON_TYPES},
    },
}
"""The body the route reads itself (``ndjson_body``), declared so clients and fuzzers send NDJSON."""


class UnsupportedMediaType(PlatformError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


async def spool_ndjson(request: Request) -> Path:
    """Stream the request's NDJSON body to a file on disk; 415 for another content type, 422 for an empty one.

    The body is never held in memory (an operations team posts whole exports, gigabytes): it goes to
    the system's temporary directory in 1 MB writes, and the job reads it from there line by line.
    Its size is bounded by ``IMPORT_MAX_BODY_BYTES`` (2 GiB by default), counted as it arrives.
    The caller owns the file (the job deletes it when it ends).
    """
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in NDJSON_TYPES:
        raise UnsupportedMediaType(
            f"send the records as NDJSON (Content-Type: application/x-ndjson), not {content_type or 'nothing'}",
            accepted=list(NDJSON_TYPES))
    handle = tempfile.NamedTemporaryFile(prefix="c360-import-", suffix=".ndjson", delete=False)  # noqa: SIM115
    path = Path(handle.name)
    blank = True
    try:
        with handle:
            pending: list[bytes] = []
            size = 0
            async for piece in request.stream():
                if blank and piece.strip():
                    blank = False
                pending.append(piece)
                size += len(piece)
                if size >= SPOOL_WRITE:
                    await asyncio.to_thread(handle.writelines, pending)
                    pending, size = [], 0
            if pending:
                await asyncio.to_thread(handle.writelines, pending)
    except BaseException:
        await asyncio.to_thread(path.unlink, True)
        raise
    if blank:
        await asyncio.to_thread(path.unlink, True)
        raise InvalidInput("the body has no records: one JSON object per line is expected", field="body")
    return path


SPOOL_WRITE = 1 << 20
"""Bytes gathered before each write of a spooled upload (in a thread: the event loop never blocks)."""


def batch_records(body: BatchRequest, kinds: tuple[str, ...]) -> tuple[list[Numbered], list[Reject]]:
    """Validate a batch's rows again (a service trusts no caller) and keep those of its kinds."""
    good: list[Numbered] = []
    bad: list[Reject] = []
    for row in body.rows:
        parsed = parse_record(row.record, file=row.file, line=row.line)
        if isinstance(parsed, Reject):
            bad.append(parsed)
        elif parsed.record.kind not in kinds:
            bad.append(parsed.reject(f"kind {parsed.record.kind!r} is not imported by this service"))
        else:
            good.append(parsed)
    return good, bad
