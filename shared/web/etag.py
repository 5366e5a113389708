"""ETags and ``If-Match``: optimistic concurrency made visible over HTTP.

A resource's ETag is its stream version, so a client that read version 7 sends ``If-Match: "7"`` with
its update and the service appends with expected version 7; a writer that got there first turns
into a 412 instead of a silently lost update. Only numeric versions are meaningful here, so anything
else in ``If-Match`` is a 400 rather than a guess.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from fastapi import Depends, Header, Request

from shared.errors import PlatformError, PreconditionRequired
from shared.web.auth import Principal, authenticate_before_refusing, optional_principal

IF_MATCH_HEADER: Final = "If-Match"
IF_MATCH_PATTERN: Final = r'^(\*|(W/)?"(0|[1-9][0-9]{0,18})")?$'
"""What the document says an ``If-Match`` may be: what ``parse_if_match`` accepts (it also trims spaces).
Empty is allowed and means no condition, as if the header were absent."""
_ETAG = re.compile(r'(?:W/)?"(0|[1-9][0-9]{0,18})"')


class MalformedIfMatchError(PlatformError):
    """``If-Match`` is neither ``*`` nor a single ETag this service issued (400)."""

    title, slug = "Malformed If-Match", "malformed-if-match"


def etag_for(version: int) -> str:
    """The strong ETag of a resource at ``version``, e.g. ``"7"`` (quotes included)."""
    if version < 0:
        raise ValueError("a version is never negative")
    return f'"{version}"'


def parse_if_match(header: str | None) -> int | None:
    """The version an ``If-Match`` value names; ``None`` when absent, empty or ``*`` (any version).

    Accepts ``"7"`` and the weak form ``W/"7"``. Raises ``MalformedIfMatchError`` (400) for anything else,
    including lists of several ETags, which a single-version resource cannot honour.
    """
    if header is None:
        return None
    value = header.strip()
    if value in ("*", ""):
        return None  # an empty field is the same as none: proxies and client libraries send one for "unset"
    match = _ETAG.fullmatch(value)
    if match is None:
        raise MalformedIfMatchError('If-Match must be "*" or one ETag such as "7".', header=IF_MATCH_HEADER)
    return int(match.group(1))


async def _parse_after_authentication(
    request: Request, principal: Principal | None, value: str | None
) -> int | None:
    try:
        return parse_if_match(value)
    except MalformedIfMatchError:
        await authenticate_before_refusing(request, principal)
        raise


def _if_match_header(description: str) -> Any:
    """The ``If-Match`` header as the OpenAPI document shows it (its pattern, what to send)."""
    return Header(alias=IF_MATCH_HEADER, json_schema_extra={"pattern": IF_MATCH_PATTERN}, description=description)


async def if_match(
    request: Request,
    principal: Annotated[Principal | None, Depends(optional_principal)],
    value: Annotated[str | None, _if_match_header('The ETag you last read, e.g. "7"; "*" or an empty value for any.')]
    = None,
) -> int | None:
    """Dependency: the ``If-Match`` version, or ``None`` when absent or ``*``."""
    return await _parse_after_authentication(request, principal, value)


async def require_if_match(
    request: Request,
    principal: Annotated[Principal | None, Depends(optional_principal)],
    value: Annotated[
        str | None, _if_match_header('Required: the ETag you last read, e.g. "7" (empty or "*" answers 428).')
    ] = None,
) -> int:
    """Dependency: the ``If-Match`` version; a missing header (or ``*``) is a 428 problem."""
    version = await _parse_after_authentication(request, principal, value)
    if version is None:
        raise PreconditionRequired(
            'This operation requires an If-Match header naming the version you read, e.g. "7".',
            header=IF_MATCH_HEADER,
        )
    return version


IfMatch = Annotated[int | None, Depends(if_match)]
"""Route parameter type for an optional ``If-Match``."""

IfMatchRequired = Annotated[int, Depends(require_if_match)]
"""Route parameter type for a mandatory ``If-Match``."""
