"""The console signs people in through the real OpenID provider's own login page (code + PKCE) in Chromium.

A small platform of its own (customer and analytics APIs, the customer relay and the analytics
projector; analytics serves the console) trusts a provider started for this module, whose console
client redirects to this console. Access tokens live 75 s, so oidc-client-ts renews silently
(refresh token) within the test. The services call each other with the provider's client-credentials
tokens. The browser is the session's (tests/e2e/conftest.py): Playwright's sync API cannot run two.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from services.analytics.console.router import ConsoleConfig
from shared.testing.oidc import LocalOidcProvider, demo_directory, free_port
from shared.testing.platform import RunningPlatform, start_platform, stop_platform
from shared.testing.plugin import DatabaseFactory
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

WAIT_MS = 60_000
TOKEN_KEY = "c360.console.token"


@dataclass
class Stage:
    platform: RunningPlatform
    provider: LocalOidcProvider

    @property
    def console(self) -> str:
        return f"{self.platform.urls['analytics']}/console"


@pytest.fixture(scope="module")
def stage(database_factory: DatabaseFactory, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Stage]:
    port = free_port()
    services = {s["client_id"]: s["client_secret"] for s in demo_directory()["services"]}
    # The analytics projector opens personal fields with keys from the customer API, asked for with
    # a client-credentials token of the provider (never one minted from the shared secret).
    running = start_platform(database_factory=database_factory, kafka_bootstrap=kafka_bootstrap, name="oidcui",
                             services=("customer", "analytics"), workers={"analytics": ("projector",)},
                             relays=("customer",),
                             extra_env={"AUTH_OIDC_ISSUER": f"http://127.0.0.1:{port}",
                                        "SERVICE_OIDC_CLIENT_ID": "c360-services",
                                        "SERVICE_OIDC_CLIENT_SECRET": services["c360-services"]})
    provider = LocalOidcProvider(port=port, work_dir=Path(tmp_path_factory.mktemp("oidc-console")),
                                 redirects=(f"{running.urls['analytics']}/console/signin",), token_ttl_seconds=75)
    try:
        provider.start()
        yield Stage(running, provider)
    finally:
        provider.stop()
        stop_platform(running, database_factory)


def password_of(username: str) -> str:
    return next(u["password"] for u in demo_directory()["users"] if u["username"] == username)


def stored_token(page: Any) -> str | None:
    token: str | None = page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')")
    return token


def session_through_console(page: Any) -> dict[str, Any]:
    """GET /v1/session through the console's proxy with the token the console sends on every call."""
    result: dict[str, Any] = page.evaluate("""async (key) => {
        const answer = await fetch('/console/api/customer/v1/session',
                                   { headers: { Authorization: 'Bearer ' + sessionStorage.getItem(key) } });
        return { status: answer.status, body: await answer.json() };
    }""", TOKEN_KEY)
    return result


def test_a_person_signs_in_through_the_providers_login_page_renews_silently_and_signs_out(
    page: Any, stage: Stage
) -> None:
    page.goto(f"{stage.console}/signin")
    sso = page.get_by_role("button", name=f"Sign in with 127.0.0.1:{stage.provider.port}")
    expect(sso).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_label("Bearer token")).to_be_visible()  # test run: paste stays available
    sso.click()

    page.wait_for_url(f"{stage.provider.issuer}/interaction/**", timeout=WAIT_MS)
    page.locator("#username").fill("agent")
    page.locator("#password").fill("wrong-password")
    page.locator("#sign-in").click()
    expect(page.locator("#error")).to_have_text("Unknown user or wrong password.", timeout=WAIT_MS)
    page.locator("#username").fill("agent")
    page.locator("#password").fill(password_of("agent"))
    page.locator("#sign-in").click()

    page.wait_for_url(f"{stage.console}/search", timeout=WAIT_MS)
    expect(page.locator("#who")).to_have_text("Signed in as Ayse Agent", timeout=WAIT_MS)
    screenshot(page, "console-oidc-signed-in")
    first = stored_token(page)
    assert first
    seen = session_through_console(page)
    assert seen["status"] == 200, seen
    assert seen["body"]["subject"] == "agent" and seen["body"]["roles"] == ["c360-agents"]
    assert seen["body"]["issuer"] == stage.provider.issuer
    assert "tickets:write" in seen["body"]["scopes"] and "admin" not in seen["body"]["scopes"]

    # 75 s tokens: oidc-client-ts renews 60 s before expiry with the refresh token, without a page change.
    page.wait_for_function("([key, old]) => { const t = sessionStorage.getItem(key); return t && t !== old; }",
                           arg=[TOKEN_KEY, first], timeout=WAIT_MS)
    assert page.url == f"{stage.console}/search"
    assert session_through_console(page)["body"]["subject"] == "agent"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{stage.provider.issuer}/**", timeout=WAIT_MS)
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{stage.console}/signin**", timeout=WAIT_MS)
    expect(page.get_by_role("button", name=f"Sign in with 127.0.0.1:{stage.provider.port}")).to_be_visible(
        timeout=WAIT_MS)
    assert stored_token(page) is None
    expect(page.locator("#who")).to_have_text("")


def test_token_paste_is_only_offered_in_local_and_test_runs_and_the_csp_admits_only_the_issuer() -> None:
    issuer = "https://login.example.com/realms/c360"
    prod = ConsoleConfig.from_env({"ENVIRONMENT": "prod", "AUTH_OIDC_ISSUER": issuer})
    assert prod.auth_config() == {"issuer": issuer, "client_id": "c360-console", "token_paste": False}
    assert "connect-src 'self' https://login.example.com;" in prod.security_headers()["Content-Security-Policy"]
    local = ConsoleConfig.from_env({"ENVIRONMENT": "local"})
    assert local.auth_config()["token_paste"] is True
    assert "connect-src 'self';" in local.security_headers()["Content-Security-Policy"]


def test_a_command_sent_through_the_console_records_the_person_in_the_audit_trail(stage: Stage) -> None:
    import asyncpg
    import httpx

    from shared.testing.platform import run_blocking

    token = stage.provider.login("accounts", password_of("accounts"))["access_token"]
    email = f"audit.{uuid.uuid4().hex[:12]}@example.com"
    with httpx.Client(timeout=30.0) as http:
        answer = http.post(f"{stage.console}/api/customer/v1/customers", json={"name": "Audit Person", "email": email},
                           headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.text
    customer_id = answer.json()["id"]

    async def actors() -> list[str]:
        conn = await asyncpg.connect(stage.platform.dsns["customer"])
        try:
            rows = await conn.fetch("select metadata->>'actor' as actor from events where stream_id = $1",
                                    customer_id)
        finally:
            await conn.close()
        return [row["actor"] for row in rows]

    assert run_blocking(actors()) == ["accounts"], "the event names the person who signed in, not a shared token"


def test_analytics_opens_personal_fields_with_a_client_credentials_token_of_the_provider(stage: Stage) -> None:
    import httpx

    from shared.testing.waiting import eventually_sync

    admin = stage.provider.login("admin", password_of("admin"))["access_token"]
    headers = {"Authorization": f"Bearer {admin}"}
    name = f"Keyed Person {uuid.uuid4().hex[:8]}"
    with httpx.Client(timeout=30.0, headers=headers) as http:
        created = http.post(stage.platform.url("customer", "/v1/customers"),
                            json={"name": name, "email": f"keyed.{uuid.uuid4().hex[:12]}@example.com"})
        assert created.status_code == 201, created.text
        url = stage.platform.url("analytics", f"/v1/customers/{created.json()['id']}/360")
        eventually_sync(lambda: http.get(url), until=lambda a: a.status_code == 200 and name in a.text,
                        timeout=60.0, interval=0.5, message="the 360 view to show the decrypted name")
    log = (stage.platform.log_dir / "customer-api.log").read_text()
    # per subject (/v1/internal/keys/{subject}) or per batch (/v1/internal/keys:batchGet)
    key_calls = [line for line in log.splitlines() if "/v1/internal/keys" in line]
    assert key_calls and all('"actor": "c360-services"' in line or '"actor":"c360-services"' in line
                             for line in key_calls), key_calls[:3]
