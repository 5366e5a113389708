"""The base of the web kit's pure ASGI middlewares: they act on HTTP requests only.

Lifespan and websocket scopes pass straight through, so each middleware states only what it does
to a request (``handle``), not the ASGI plumbing around it.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMiddleware:
    """A pure ASGI middleware whose ``handle`` runs for HTTP requests; anything else passes through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (calling ``self.app`` to go on)."""
        await self.app(scope, receive, send)


class WatchedSend:
    """A ``send`` that notes the start of the response on its way to the client.

    The metrics, the access log and the last-resort error answer each need to know whether a response
    started and with which status; this one wrapper sees it for all of them. ``status`` stays 500
    until a response starts: an app that raised before answering is a 500 to whoever counts it.
    ``on_start`` may still change the start message (add headers) before it is sent.
    """

    def __init__(self, send: Send, *, on_start: Callable[[Message], None] | None = None) -> None:
        self._send = send
        self._on_start = on_start
        self.started = False
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            if self._on_start is not None:
                self._on_start(message)
        await self._send(message)
