"""Turning a use case's outcome into the HTTP answer, the same way in every service.

Handlers return ``shared.store.outcomes`` (``Created``, ``Updated``, ``Accepted``, ``Deleted``);
``answer`` is the one place that maps them to a status, the ``ETag`` (the resource's version), the
``Location`` (the route's ``location`` template filled with the new resource's id) and the body.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from shared.errors import PlatformError
from shared.store.idempotent_commands import REPLAY_HEADER, Command, CommandResult, IdempotencyRequest, run_command
from shared.store.outcomes import Accepted, Created, Deleted, Outcome, Updated
from shared.web.etag import IF_MATCH_HEADER, etag_for, parse_if_match


def answer(outcome: Outcome | CommandResult, *, location: str | None = None) -> CommandResult:
    """The HTTP answer of ``outcome``; ``location`` (e.g. ``/v1/orders/{id}``) names a created resource.

    A ``CommandResult`` passes through unchanged (a handler not yet returning outcomes, issue 16.2).
    """
    match outcome:
        case CommandResult():
            return outcome
        case Created(resource=resource, resource_id=resource_id, version=version):
            headers = _etag(version)
            if location is not None:
                headers["Location"] = location.format(id=resource_id)
            return CommandResult(201, resource, headers)
        case Updated(resource=resource, version=version):
            return CommandResult(200, resource, _etag(version))
        case Accepted(resource=resource, resource_id=resource_id):
            headers = {}
            if location is not None and resource_id is not None:
                headers["Location"] = location.format(id=resource_id)
            return CommandResult(202, resource, headers)
        case Deleted():
            return CommandResult(204, None)
    raise TypeError(f"not a command outcome: {outcome!r}")


def _etag(version: int | None) -> dict[str, str]:
    return {} if version is None else {"ETag": etag_for(version)}


def command_response(result: CommandResult) -> Response:
    """The stored or fresh answer of a command; a replayed one says so in ``Idempotent-Replayed``."""
    headers = dict(result.headers)
    if result.replayed:
        headers[REPLAY_HEADER] = "true"
    if result.status == 204:
        return Response(status_code=204, headers=headers)
    return Response(
        orjson.dumps(result.body), status_code=result.status, headers=headers, media_type="application/json"
    )


def asked_for_optimistic_concurrency(request: Request) -> bool:
    """Whether the client named a version in ``If-Match`` (``*`` or no header: it did not).

    A malformed value counts as asking: routes that take ``If-Match`` refuse it before this matters.
    """
    try:
        return parse_if_match(request.headers.get(IF_MATCH_HEADER)) is not None
    except PlatformError:
        return True


async def run_and_respond(
    request: Request,
    command: Command[Any],
    idempotency: IdempotencyRequest | None = None,
    *,
    location: str | None = None,
) -> Response:
    """Run a command in a unit of work on the app's pool and event store, and answer its outcome.

    The unit of work's read model is built by ``app.state.rows_factory`` (set by the service's
    bootstrap). Without ``If-Match`` a lost race on a stream is retried on fresh state
    (``run_command``'s ``retry_conflicts``); with it, the client gets the 412/409 it asked for.
    """
    state = request.app.state
    retry = not asked_for_optimistic_concurrency(request)
    result = await run_command(
        state.pool,
        state.store,
        command,
        idempotency,
        present=lambda outcome: answer(outcome, location=location),
        retry_conflicts=retry,
        rows_factory=getattr(state, "rows_factory", None),
    )
    return command_response(result)
