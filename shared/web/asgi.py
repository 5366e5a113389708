"""The base of the web kit's pure ASGI middlewares: they act on HTTP requests only.

Lifespan and websocket scopes pass straight through, so each middleware states only what it does
to a request (``handle``), not the ASGI plumbing around it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


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
