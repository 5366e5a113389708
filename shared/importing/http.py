"""What the import routes of every owning service share: NDJSON bodies and the batch endpoint's work.

The routes themselves live in each service (``services/<svc>/api/imports.py``); this keeps their
checks identical: an admin token, NDJSON or JSON content types, problem+json for anything else.
"""

from __future__ import annotations

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


async def ndjson_body(request: Request) -> bytes:
    """The request's NDJSON body; 415 for another content type, 422 for an empty one."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in NDJSON_TYPES:
        raise UnsupportedMediaType(
            f"send the records as NDJSON (Content-Type: application/x-ndjson), not {content_type or 'nothing'}",
            accepted=list(NDJSON_TYPES))
    body = await request.body()
    if not body.strip():
        raise InvalidInput("the body has no records: one JSON object per line is expected", field="body")
    return body


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
