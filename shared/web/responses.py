"""Turning a command's result into the HTTP answer, the same way in every service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from shared.errors import PlatformError
from shared.store.idempotent_commands import REPLAY_HEADER, CommandResult, IdempotencyKeyed, run_command
from shared.store.uow import UnitOfWork
from shared.web.etag import IF_MATCH_HEADER, parse_if_match


def command_response(result: CommandResult) -> Response:
    """The stored or fresh answer of a command; a replayed one says so in ``Idempotent-Replayed``."""
    headers = dict(result.headers)
    if result.replayed:
        headers[REPLAY_HEADER] = "true"
    if result.status == 204:
        return Response(status_code=204, headers=headers)
    return Response(orjson.dumps(result.body), status_code=result.status, headers=headers,
                    media_type="application/json")


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
    command: Callable[[UnitOfWork], Awaitable[CommandResult]],
    idempotency: IdempotencyKeyed | None = None,
) -> Response:
    """Run a command in a unit of work on the app's pool and event store, and answer it.

    Without ``If-Match`` a lost race on a stream is retried on fresh state (``run_command``'s
    ``retry_conflicts``); with it, the client gets the 412/409 it asked for.
    """
    state = request.app.state
    retry = not asked_for_optimistic_concurrency(request)
    return command_response(await run_command(state.pool, state.store, command, idempotency, retry_conflicts=retry))
