"""Hostile strings are data, never code; secrets never reach a log line.

SQL-injection and script-injection strings go in through every free-text field we own (profile,
ticket, comment) and a filter, and must come back byte for byte, with every table still there.
Then the logs the real processes wrote are searched for the bearer tokens and the signing secret
used in this session: none may appear.
"""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from shared.testing.platform import RunningPlatform, run_blocking
from tests.security.conftest import JWT_SECRET

HOSTILE = [
    "Robert'); DROP TABLE customers;--",
    "' OR '1'='1' --",
    "\"; select pg_sleep(10); --",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}} ${7*7} %s %n",
    "Ünïcödé \u202e gnirts \u0000-free",
]


def _admin(platform: RunningPlatform) -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {platform.admin_token}"}, timeout=20.0)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_are_stored_and_returned_literally(api_platform: RunningPlatform, hostile: str) -> None:
    hostile = hostile.replace("\u0000", "")  # JSON text may not carry NUL into PostgreSQL text
    run = uuid.uuid4().hex[:8]
    with _admin(api_platform) as http:
        created = http.post(api_platform.url("customer", "/v1/customers"), json={
            "name": hostile, "email": f"hostile.{run}@example.com", "address": hostile, "interests": [hostile[:50]]})
        assert created.status_code == 201, created.text
        customer = created.json()
        assert (customer["name"], customer["address"]) == (hostile, hostile)
        fetched = http.get(api_platform.url("customer", f"/v1/customers/{customer['id']}")).json()
        assert (fetched["name"], fetched["address"]) == (hostile, hostile)
        assert fetched["interests"] == [hostile[:50].strip().lower()]  # interests are normalised, not escaped

        for name in ("email", "q"):
            found = http.get(api_platform.url("customer", "/v1/customers"), params={name: hostile})
            assert found.status_code in (200, 422), found.text
            if found.status_code == 200:
                ids = {item["id"] for item in found.json()["items"]}
                assert ids <= {customer["id"]}, "a hostile filter must match nothing but the literal, not everything"

        ticket = http.post(api_platform.url("ticketing", "/v1/tickets"), json={
            "customer_id": customer["id"], "kind": "complaint", "channel": "web", "subject": hostile,
            "description": hostile})
        assert ticket.status_code == 201, ticket.text
        commented = http.post(api_platform.url("ticketing", f"/v1/tickets/{ticket.json()['id']}/comments"),
                              json={"body": hostile, "visibility": "public"})
        assert commented.status_code == 201, commented.text
        detail = http.get(api_platform.url("ticketing", f"/v1/tickets/{ticket.json()['id']}")).json()
        assert (detail["subject"], detail["description"]) == (hostile, hostile)
        assert hostile in [entry["data"].get("body") for entry in detail["history"]]
    assert run_blocking(_tables_intact(api_platform.dsns["customer"]))


async def _tables_intact(dsn: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        tables = {r["tablename"] for r in await conn.fetch("select tablename from pg_tables where schemaname='public'")}
        return {"events", "outbox", "customers"} <= tables
    finally:
        await conn.close()


def test_tokens_and_the_signing_secret_never_reach_the_logs(api_platform: RunningPlatform) -> None:
    staff = api_platform.token("customers:read", "customers:write")
    forged = staff[:-6] + "AAAAAA"
    with httpx.Client(timeout=20.0) as http:
        for token in (staff, forged):
            for service in api_platform.urls:
                http.get(api_platform.url(service, "/v1/customers"), headers={"Authorization": f"Bearer {token}"})
        created = http.post(api_platform.url("customer", "/v1/customers"), headers={"Authorization": f"Bearer {staff}"},
                            json={"name": "Log Check", "email": f"log.{uuid.uuid4().hex[:8]}@example.com"})
        assert created.status_code == 201
        # The access line of this very request must be written before the logs are read.
        http.get(api_platform.url("customer", "/health/live"))
    logs = {path.name: path.read_text(errors="replace") for path in api_platform.log_dir.glob("*.log")}
    assert any("/v1/customers" in text for text in logs.values()), "the access log must have recorded the requests"
    signature = staff.rsplit(".", 1)[1]
    for name, text in logs.items():
        for secret, what in ((staff, "a bearer token"), (forged, "a forged token"), (signature, "a token signature"),
                             (JWT_SECRET, "the signing secret")):
            assert secret not in text, f"{name} contains {what}"


@pytest.mark.parametrize(("service", "path", "body"), [
    ("customer", "/v1/customers", {"name": "Nul\u0000Byte", "email": "nul.byte@example.com"}),
    ("ticketing", "/v1/tickets", {"customer_id": str(uuid.uuid4()), "kind": "question", "channel": "web",
                                  "subject": "Nul\u0000", "description": "d\u0000"}),
    ("campaigns", "/v1/campaigns", {"name": "Nul\u0000", "objective": "upsell",
                                    "trigger": {"event_type": "OrderPlaced"},
                                    "action": {"kind": "message", "channels": ["email"], "template": "t\u0000"}}),
])
def test_text_the_database_cannot_store_is_a_422_not_a_500(api_platform: RunningPlatform, service: str, path: str,
                                                           body: dict[str, object]) -> None:
    with _admin(api_platform) as http:
        answer = http.post(api_platform.url(service, path), json=body)
    assert answer.status_code in (400, 422), answer.text[:300]
    assert answer.headers["content-type"].startswith("application/problem+json")
