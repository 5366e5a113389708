"""Turning a command's result into the HTTP answer, the same way in every service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from shared.idempotency import REPLAY_HEADER, CommandResult, IdempotencyKeyed, run_command
from shared.uow import UnitOfWork


def command_response(result: CommandResult) -> Response:
    """The stored or fresh answer of a command; a replayed one says so in ``Idempotent-Replayed``."""
    headers = dict(result.headers)
    if result.replayed:
        headers[REPLAY_HEADER] = "true"
    if result.status == 204:
        return Response(status_code=204, headers=headers)
    return Response(orjson.dumps(result.body), status_code=result.status, headers=headers,
                    media_type="application/json")


async def run_and_respond(
    request: Request,
    command: Callable[[UnitOfWork], Awaitable[CommandResult]],
    idempotency: IdempotencyKeyed | None = None,
) -> Response:
    """Run a command in a unit of work on the app's pool and event store, and answer it."""
    state = request.app.state
    return command_response(await run_command(state.pool, state.store, command, idempotency))
