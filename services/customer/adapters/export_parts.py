"""The other services' parts of an export, asked for over HTTP with the customer service's token.

The ``application.ports.ExportParts`` of production: ``GET {service}/v1/internal/customers/{id}/export``
(``shared.privacy.export.PART_PATH``) with a service token, retried a few times when a service is
away for a moment (a restart answers 503). A part that cannot be had raises with the reason, which
the export job shows: an export silently lacking a service would tell the person we hold less.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import httpx

from shared.privacy.export import PART_PATH
from shared.web.service_token import ServiceToken

ATTEMPTS = 3
"""Tries per remote part (a restarting service answers 503 for a moment) before the job fails."""
PART_TIMEOUT = 30.0


class HttpExportParts:
    """Asks ticketing, campaigns and analytics (``urls`` by service name) for their parts."""

    def __init__(self, urls: Mapping[str, str], token: ServiceToken, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.urls = {service: url.rstrip("/") for service, url in urls.items()}
        self.token = token
        self.transport = transport

    async def fetch(self, service: str, customer_id: UUID) -> dict[str, Any]:
        """The service's part of the customer's export; ``RuntimeError`` with the reason when it cannot be had."""
        url = self.urls[service] + PART_PATH.format(customer_id=customer_id)
        last = ""
        async with httpx.AsyncClient(timeout=PART_TIMEOUT, transport=self.transport) as http:
            for attempt in range(ATTEMPTS):
                try:
                    answer = await http.get(url, headers={"Authorization": f"Bearer {self.token.get()}"})
                except httpx.HTTPError as exc:
                    last = f"unreachable ({type(exc).__name__})"
                else:
                    if answer.status_code == 200:
                        body: dict[str, Any] = answer.json()
                        if body.get("service") != service:
                            raise RuntimeError(f"answered a part of {body.get('service')!r}")
                        return body
                    last = f"answered {answer.status_code}"
                    if answer.status_code < 500:
                        break
                await asyncio.sleep(0.5 * 2**attempt)
        raise RuntimeError(f"its part could not be had: {last}")
