"""Authentication comes first, and a 405 names every method a path serves (issue 15.4).

An anonymous client sending a malformed ``If-Match`` or ``Idempotency-Key`` is told to authenticate
(401), not how our headers are shaped; a 405's ``Allow`` lists what the document lists for the path.
"""

from __future__ import annotations

import httpx
import pytest

from shared.testing.platform import RunningPlatform

MALFORMED = [
    ("customer", "PATCH", "/v1/customers/0b0f6c3e-6a4c-4d0b-9c55-7d1b1a1f0a01", {"If-Match": "null"}),
    ("ticketing", "POST", "/v1/tickets/0b0f6c3e-6a4c-4d0b-9c55-7d1b1a1f0a01/close", {"If-Match": "seven"}),
    ("campaigns", "POST", "/v1/campaigns/0b0f6c3e-6a4c-4d0b-9c55-7d1b1a1f0a01/pause", {"If-Match": "\"7\", \"8\""}),
    ("customer", "POST", "/v1/invoices", {"Idempotency-Key": "tab\there"}),
    ("ticketing", "POST", "/v1/tickets", {"Idempotency-Key": "x" * 300}),
    ("campaigns", "POST", "/v1/surveys", {"Idempotency-Key": ""}),
]


@pytest.mark.parametrize(("service", "method", "path", "headers"), MALFORMED)
def test_without_a_token_a_malformed_header_is_401(
    api_platform: RunningPlatform, service: str, method: str, path: str, headers: dict[str, str]
) -> None:
    response = httpx.request(method, api_platform.url(service, path), headers=headers, json={}, timeout=30)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("service", "method", "path", "headers"), MALFORMED[:3])
def test_with_a_token_a_malformed_if_match_is_still_a_400(
    api_platform: RunningPlatform, service: str, method: str, path: str, headers: dict[str, str]
) -> None:
    response = httpx.request(method, api_platform.url(service, path), json={}, timeout=30,
                             headers={**headers, "Authorization": f"Bearer {api_platform.admin_token}"})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(("service", "path", "allowed"), [
    ("customer", "/v1/customers/0b0f6c3e-6a4c-4d0b-9c55-7d1b1a1f0a01", "DELETE, GET, PATCH"),
    ("customer", "/v1/me/orders", "GET, POST"),
    ("customer", "/v1/customers/duplicates", "GET"),
    ("ticketing", "/v1/tickets", "GET, POST"),
    ("campaigns", "/v1/campaigns/0b0f6c3e-6a4c-4d0b-9c55-7d1b1a1f0a01", "GET, PATCH"),
])
def test_a_405_allows_every_method_the_document_lists_for_the_path(
    api_platform: RunningPlatform, service: str, path: str, allowed: str
) -> None:
    response = httpx.request("PUT", api_platform.url(service, path),
                             headers={"Authorization": f"Bearer {api_platform.admin_token}"}, timeout=30)
    assert response.status_code == 405, response.text
    assert response.headers["Allow"] == allowed
