"""The console's server side over HTTP: pages, the same-origin proxy and the live stream decide nothing
themselves; each service still decides what a token may see, and bad input answers problem+json."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.analytics.console import ConsoleConfig, console_router
from tests.e2e.conftest import Platform, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PROBLEM = "application/problem+json"


def assert_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM), answer.headers
    body: dict[str, Any] = answer.json()
    assert body["status"] == status and body["title"]
    return body


def other_customer_id(platform: Platform, not_this: str) -> str:
    with platform.client() as http:
        items = http.get(f"{platform.urls['customer']}/v1/customers", params={"limit": 5}).json()["items"]
    return next(str(c["id"]) for c in items if str(c["id"]) != not_this)


def test_pages_are_the_shell_with_a_strict_content_security_policy(platform: Platform) -> None:
    with httpx.Client(timeout=30.0) as http:
        home = http.get(platform.console)
        assert home.status_code == 307 and home.headers["location"] == "/console/signin"
        some_customer = "00000000-0000-4000-8000-000000000000"
        for page in ("signin", "search", "queue", "campaigns", "kpis", f"customers/{some_customer}"):
            answer = http.get(f"{platform.console}/{page}")
            assert answer.status_code == 200, page
            assert answer.headers["content-type"].startswith("text/html")
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert answer.headers["x-content-type-options"] == "nosniff"
        script = http.get(f"{platform.console}/static/console.js")
        assert script.status_code == 200 and script.headers["x-content-type-options"] == "nosniff"
        assert http.get(f"{platform.console}/static/nothing-here.js").status_code == 404
        assert_problem(http.get(f"{platform.console}/customers/not-a-uuid"), 422)


def test_the_proxy_reaches_only_a_services_v1_api(platform: Platform) -> None:
    with platform.client() as http:
        assert_problem(http.get(f"{platform.console}/api/billing/v1/customers"), 404)
        assert_problem(http.get(f"{platform.console}/api/customer/metrics"), 404)
        assert_problem(http.get(f"{platform.console}/api/customer/v1/%2e%2e/metrics"), 404)
        answer = http.get(f"{platform.console}/api/customer/v1/customers", params={"limit": 1})
        assert answer.status_code == 200 and len(answer.json()["items"]) == 1


def test_the_proxy_forwards_the_callers_token_and_the_services_answer(platform: Platform) -> None:
    with httpx.Client(timeout=30.0) as anonymous:
        assert_problem(anonymous.get(f"{platform.console}/api/customer/v1/customers"), 401)
    with platform.client() as http:
        invalid = http.post(f"{platform.console}/api/ticketing/v1/tickets", json={"kind": "complaint"})
        assert_problem(invalid, 422)


def test_a_self_service_token_reaches_only_its_own_customer_through_the_console(platform: Platform) -> None:
    own = platform.customer_id(platform.demo_customer())
    other = other_customer_id(platform, own)
    eventually(lambda: httpx.get(f"{platform.urls['analytics']}/v1/customers/{own}/360", timeout=30.0,
                                 headers={"Authorization": f"Bearer {platform.admin_token}"}).status_code == 200,
               what="analytics to know the demo customer")
    with platform.client(platform.token("self", customer_id=own)) as http:
        assert http.get(f"{platform.console}/api/analytics/v1/customers/{own}/360").status_code == 200
        assert_problem(http.get(f"{platform.console}/api/analytics/v1/customers/{other}/360"), 403)
        assert_problem(http.get(f"{platform.console}/api/customer/v1/customers/{other}"), 403)
        tickets = http.get(f"{platform.console}/api/ticketing/v1/tickets", params={"customer_id": other}).json()
        assert all(t["customer_id"] == own for t in tickets["items"]), "another customer's tickets leaked"
        assert_problem(http.get(f"{platform.console}/live/{other}"), 403)
        with http.stream("GET", f"{platform.console}/live/{own}") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            received = ""
            for chunk in stream.iter_text():
                received += chunk
                if "event: ready" in received:
                    break
            assert f'"customer_id":"{own}"' in received


def test_the_live_stream_needs_a_token_and_a_customer_id(platform: Platform) -> None:
    own = platform.customer_id(platform.demo_customer())
    with httpx.Client(timeout=30.0) as anonymous:
        assert_problem(anonymous.get(f"{platform.console}/live/{own}"), 401)
    with platform.client() as http:
        assert_problem(http.get(f"{platform.console}/live/not-a-customer"), 422)


def test_a_service_that_does_not_answer_is_a_503_problem() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    app = FastAPI()
    app.include_router(console_router(ConsoleConfig(base_urls=dict.fromkeys(
        ("customer", "ticketing", "campaigns", "analytics"), closed), timeout_seconds=5.0)))

    async def ask() -> httpx.Response:
        async with app.router.lifespan_context(app):  # the router's lifespan closes its pooled client
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
                return await client.get("/console/api/customer/v1/customers")

    # On a loop of its own in another thread: Playwright's sync API may own this thread's loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(asyncio.run, ask()).result(timeout=60)
    body = assert_problem(answer, 503)
    assert "customer" in body["detail"]
