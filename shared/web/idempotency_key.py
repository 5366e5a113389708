"""The HTTP half of idempotent creates: read and check the ``Idempotency-Key`` header.

A client that retries a ``POST`` after a timeout sends the same key; the service must then return the
first answer and create nothing twice. This module only turns the header into an
``IdempotencyRequest``; ``shared.store.idempotent_commands`` stores keys and answers in PostgreSQL inside the
command's own transaction, so a key is recorded if and only if the command committed.

Three parts, three jobs:

- ``key``: what the client chose.
- ``scope``: who asked, and for which operation (subject, method, route template); two callers
  choosing the same key never see each other's answers.
- ``fingerprint``: a SHA-256 of the concrete request (method, path, query, raw body); the same key
  with a different request is a client bug the store can refuse, instead of replaying a stale answer.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Final

from fastapi import Depends, Header, Request

from shared.errors import InvalidInput
from shared.store.idempotent_commands import IdempotencyRequest
from shared.web.auth import Principal, authenticate_before_refusing, optional_principal

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
MAX_KEY_LENGTH: Final = 255
IDEMPOTENCY_KEY_PATTERN: Final = r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$"
"""What the document says a key may be, exactly what ``validate_key`` accepts: 1-255 printable ASCII
characters, not starting or ending with a space (HTTP trims those, so the key would not survive)."""
_VALID_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_ANONYMOUS: Final = "anonymous"


def request_fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """SHA-256 (hex) of a request's method, path, query string and raw body.

    Each part is length-prefixed so that moving bytes from one part to the next changes the hash.
    """
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def validate_key(value: str) -> str:
    """Return ``value`` when it is 1..255 printable ASCII characters; else raise ``InvalidInput`` (422)."""
    if not _VALID_KEY.fullmatch(value):
        raise InvalidInput(
            f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            header=IDEMPOTENCY_HEADER,
        )
    return value


async def idempotency_request(
    request: Request,
    principal: Annotated[Principal | None, Depends(optional_principal)],
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            json_schema_extra={"pattern": IDEMPOTENCY_KEY_PATTERN},
            description="Repeat a create safely: the same key and body return the first answer.",
        ),
    ] = None,
) -> IdempotencyRequest | None:
    """Dependency: the request's ``IdempotencyRequest``, or ``None`` when no key was sent."""
    if key is None:
        return None
    try:
        validate_key(key)
    except InvalidInput:
        await authenticate_before_refusing(request, principal)
        raise
    body = await request.body()
    route = request.scope.get("route")
    route_path = getattr(route, "path", None) or request.url.path
    subject = principal.subject if principal is not None else _ANONYMOUS
    query: bytes = request.scope.get("query_string", b"")
    return IdempotencyRequest(
        key=key,
        fingerprint=request_fingerprint(request.method, request.url.path, query, body),
        scope=f"{subject} {request.method} {route_path}",
    )


IdempotencyKey = Annotated[IdempotencyRequest | None, Depends(idempotency_request)]
"""Route parameter type: ``idempotency: IdempotencyKey``."""
