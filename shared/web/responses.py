"""Turning a command's result into the HTTP answer, the same way in every service."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from shared.idempotency import REPLAY_HEADER, CommandResult


def command_response(result: CommandResult) -> Response:
    """The stored or fresh answer of a command; a replayed one says so in ``Idempotent-Replayed``."""
    headers = dict(result.headers)
    if result.replayed:
        headers[REPLAY_HEADER] = "true"
    if result.status == 204:
        return Response(status_code=204, headers=headers)
    return Response(orjson.dumps(result.body), status_code=result.status, headers=headers,
                    media_type="application/json")
