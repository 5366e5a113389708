"""Access control over every route of every service, enumerated from each API's own OpenAPI document.

``REQUIRED`` is the specification: the one scope each operation needs. A route added without an
entry here fails ``test_every_route_is_in_the_matrix``; for each entry, the matrix sends no token,
an expired one, a wrongly signed one, an unsigned (``alg: none``) one, a token holding every other
scope, and a self-service token of another customer (all refused with 401/403 and no data), then
the right scope alone (never refused). Path parameters name real resources of customer A, so "no
data in the body" is checked against data that exists.

``test_role_matrix`` does the same for people: each demo person of the real OpenID provider
(``deploy/local/oidc/users.json``) signs in through its login page, and every route and role is
allowed exactly when the role mapping (``shared/web/roles.json``) grants the route's scope; a person
whose groups map to nothing gets 403 everywhere but ``GET /v1/session``.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson
import pytest

from shared.testing.oidc import LocalOidcProvider, demo_directory
from shared.testing.platform import RunningPlatform
from shared.web.auth import ADMIN, KNOWN_SCOPES, PRIVACY_MANAGE, SELF, load_role_mapping

AUTHENTICATED = "authenticated"
"""Any valid token, no scope: the caller's own session (``GET /v1/session``)."""

PUBLIC = {
    ("customer", "GET", "/health/live"), ("customer", "GET", "/health/ready"),
    ("ticketing", "GET", "/health/live"), ("ticketing", "GET", "/health/ready"),
    ("campaigns", "GET", "/health/live"), ("campaigns", "GET", "/health/ready"),
    ("analytics", "GET", "/health/live"), ("analytics", "GET", "/health/ready"),
    # The customer answers a survey with the one-time response token from the message they got.
    ("campaigns", "POST", "/v1/surveys/{survey_id}/responses"),
    ("campaigns", "POST", "/v1/surveys/{survey_id}/answers"),
}
"""Operations that need no bearer token."""

REQUIRED: dict[tuple[str, str, str], str] = {
    ("customer", "GET", "/v1/session"): AUTHENTICATED,
    ("ticketing", "GET", "/v1/session"): AUTHENTICATED,
    ("campaigns", "GET", "/v1/session"): AUTHENTICATED,
    ("analytics", "GET", "/v1/session"): AUTHENTICATED,
    ("customer", "POST", "/v1/customers"): "customers:write",
    ("customer", "GET", "/v1/customers"): "customers:read",
    ("customer", "GET", "/v1/customers/duplicates"): "customers:read",
    ("customer", "GET", "/v1/customers/{customer_id}"): "customers:read",
    ("customer", "PATCH", "/v1/customers/{customer_id}"): "customers:write",
    # Data protection (erasure, its acknowledgements, right of access): the data-protection officer's scope.
    ("customer", "DELETE", "/v1/customers/{customer_id}"): PRIVACY_MANAGE,
    ("customer", "PUT", "/v1/customers/{customer_id}/consents"): "customers:write",
    ("customer", "PUT", "/v1/customers/{customer_id}/account-manager"): "customers:write",
    ("customer", "POST", "/v1/customers/{customer_id}/merge"): "customers:write",
    ("customer", "POST", "/v1/customers/{customer_id}/unmerge"): "customers:write",
    ("customer", "POST", "/v1/customers/{customer_id}/verifications"): "customers:write",
    ("customer", "GET", "/v1/duplicate-rules"): ADMIN,
    ("customer", "PUT", "/v1/duplicate-rules"): ADMIN,
    ("customer", "GET", "/v1/customers/{customer_id}/erasure"): PRIVACY_MANAGE,
    # Right of access: a data-protection officer (privacy:manage) or the customer themself (self-service).
    ("customer", "GET", "/v1/customers/{customer_id}/export"): PRIVACY_MANAGE,
    ("customer", "POST", "/v1/customers/{customer_id}/exports"): PRIVACY_MANAGE,
    ("customer", "GET", "/v1/customers/{customer_id}/exports/{export_id}"): PRIVACY_MANAGE,
    ("customer", "GET", "/v1/customers/{customer_id}/exports/{export_id}/document"): PRIVACY_MANAGE,
    ("customer", "GET", "/v1/customers/{customer_id}/exports/{export_id}/document.html"): PRIVACY_MANAGE,
    # Each service's part of an export, for the customer service's service token.
    ("customer", "GET", "/v1/internal/customers/{customer_id}/export"): "keys:read",
    ("ticketing", "GET", "/v1/internal/customers/{customer_id}/export"): "keys:read",
    ("campaigns", "GET", "/v1/internal/customers/{customer_id}/export"): "keys:read",
    ("analytics", "GET", "/v1/internal/customers/{customer_id}/export"): "keys:read",
    ("customer", "GET", "/v1/customers/{customer_id}/orders"): "customers:read",
    ("customer", "POST", "/v1/customers/{customer_id}/notes"): "customers:write",
    ("customer", "GET", "/v1/customers/{customer_id}/notes"): "customers:read",
    ("customer", "GET", "/v1/follow-ups"): "customers:read",
    ("customer", "GET", "/v1/follow-ups/{follow_up_id}"): "customers:read",
    ("customer", "POST", "/v1/follow-ups/{follow_up_id}/complete"): "customers:write",
    ("customer", "POST", "/v1/follow-ups/{follow_up_id}/snooze"): "customers:write",
    ("customer", "POST", "/v1/follow-ups/{follow_up_id}/cancel"): "customers:write",
    ("customer", "POST", "/v1/orders"): "orders:write",
    ("customer", "GET", "/v1/orders/{order_id}"): "customers:read",
    ("customer", "POST", "/v1/orders/{order_id}/ship"): "orders:write",
    ("customer", "POST", "/v1/orders/{order_id}/deliver"): "orders:write",
    ("customer", "POST", "/v1/orders/{order_id}/cancel"): "orders:write",
    ("customer", "POST", "/v1/orders/{order_id}/return"): "orders:write",
    ("customer", "POST", "/v1/invoices"): "orders:write",
    ("customer", "GET", "/v1/invoices/{invoice_id}"): "customers:read",
    ("customer", "POST", "/v1/payments"): "orders:write",
    ("customer", "GET", "/v1/me"): SELF,
    ("customer", "GET", "/v1/me/orders"): SELF,
    ("customer", "POST", "/v1/me/orders"): SELF,
    ("customer", "GET", "/v1/me/orders/{order_id}"): SELF,
    ("customer", "PUT", "/v1/me/consents"): SELF,
    ("customer", "GET", "/v1/internal/keys/{subject}"): "keys:read",
    ("customer", "POST", "/v1/internal/keys:batchGet"): "keys:read",
    ("ticketing", "POST", "/v1/tickets"): "tickets:write",
    ("ticketing", "GET", "/v1/tickets"): "tickets:read",
    ("ticketing", "GET", "/v1/tickets/{ticket_id}"): "tickets:read",
    ("ticketing", "POST", "/v1/tickets/{ticket_id}/assign"): "tickets:write",
    ("ticketing", "POST", "/v1/tickets/{ticket_id}/transfer"): "tickets:write",
    ("ticketing", "POST", "/v1/tickets/{ticket_id}/comments"): "tickets:write",
    ("ticketing", "POST", "/v1/tickets/{ticket_id}/contacts"): "tickets:write",
    ("ticketing", "POST", "/v1/tickets/{ticket_id}/wait-for-customer"): "tickets:write",
    ("ticketing", "POST", "/v1/tickets/{ticket_id}/resume"): "tickets:write",
    ("ticketing", "POST", "/v1/tickets/{ticket_id}/escalate"): "tickets:write",
    ("ticketing", "POST", "/v1/tickets/{ticket_id}/resolve"): "tickets:write",
    ("ticketing", "POST", "/v1/tickets/{ticket_id}/reopen"): "tickets:write",
    ("ticketing", "POST", "/v1/tickets/{ticket_id}/close"): "tickets:write",
    ("ticketing", "GET", "/v1/ticket-settings"): "tickets:read",
    ("ticketing", "POST", "/v1/sla-policies/simulate"): "tickets:read",
    ("ticketing", "GET", "/v1/sla-policies/calendars"): "tickets:read",
    ("ticketing", "PUT", "/v1/sla-policies/calendars"): ADMIN,
    ("ticketing", "GET", "/v1/calendars"): "tickets:read",
    ("ticketing", "GET", "/v1/calendars/{calendar_name}"): "tickets:read",
    ("ticketing", "PUT", "/v1/calendars/{calendar_name}"): ADMIN,
    ("ticketing", "POST", "/v1/calendars/{calendar_name}/holidays/import"): ADMIN,
    ("ticketing", "GET", "/v1/internal/keys/{subject}"): "keys:read",
    ("ticketing", "POST", "/v1/internal/keys:batchGet"): "keys:read",
    ("campaigns", "POST", "/v1/campaigns"): "campaigns:write",
    ("campaigns", "GET", "/v1/campaigns"): "campaigns:read",
    ("campaigns", "GET", "/v1/campaigns/{campaign_id}"): "campaigns:read",
    ("campaigns", "PATCH", "/v1/campaigns/{campaign_id}"): "campaigns:write",
    ("campaigns", "POST", "/v1/campaigns/{campaign_id}/activate"): "campaigns:write",
    ("campaigns", "POST", "/v1/campaigns/{campaign_id}/pause"): "campaigns:write",
    ("campaigns", "POST", "/v1/campaigns/{campaign_id}/complete"): "campaigns:write",
    ("campaigns", "GET", "/v1/campaigns/{campaign_id}/performance"): "campaigns:read",
    ("campaigns", "POST", "/v1/surveys"): "campaigns:write",
    ("campaigns", "GET", "/v1/surveys/{survey_id}"): "campaigns:read",
    ("campaigns", "GET", "/v1/marketing-policy"): "campaigns:read",
    ("campaigns", "PUT", "/v1/marketing-policy"): ADMIN,
    ("campaigns", "POST", "/v1/marketing-policy/blackouts/ics"): ADMIN,
    ("campaigns", "GET", "/v1/service-messages"): "campaigns:read",
    ("campaigns", "PUT", "/v1/service-messages"): ADMIN,
    ("campaigns", "GET", "/v1/customers/{customer_id}/service-messages"): "campaigns:read",
    ("campaigns", "GET", "/v1/internal/keys/{subject}"): "keys:read",
    ("campaigns", "POST", "/v1/internal/keys:batchGet"): "keys:read",
    ("analytics", "GET", "/v1/customers/{customer_id}/360"): "analytics:read",
    ("analytics", "GET", "/v1/customers/{customer_id}/timeline"): "analytics:read",
    ("analytics", "GET", "/v1/customers"): "analytics:read",
    ("analytics", "GET", "/v1/kpis/nps"): "analytics:read",
    ("analytics", "GET", "/v1/kpis/nps/reasons"): "analytics:read",
    ("analytics", "GET", "/v1/kpis/churn"): "analytics:read",
    ("analytics", "GET", "/v1/kpis/clv"): "analytics:read",
    ("analytics", "GET", "/v1/kpis/service"): "analytics:read",
    ("analytics", "GET", "/v1/kpis/campaigns"): "analytics:read",
    ("analytics", "GET", "/v1/event-types"): "analytics:read",
    ("analytics", "GET", "/v1/alerts"): "analytics:read",
    ("analytics", "POST", "/v1/alerts/{alert_id}/acknowledge"): "customers:write",
    ("analytics", "GET", "/v1/kpis/alerts"): "analytics:read",
    # Webhook subscriptions decide where events (and personal data) leave the company: admin only.
    ("analytics", "POST", "/v1/webhooks/subscriptions"): ADMIN,
    ("analytics", "GET", "/v1/webhooks/subscriptions"): ADMIN,
    ("analytics", "GET", "/v1/webhooks/subscriptions/{subscription_id}"): ADMIN,
    ("analytics", "PATCH", "/v1/webhooks/subscriptions/{subscription_id}"): ADMIN,
    ("analytics", "DELETE", "/v1/webhooks/subscriptions/{subscription_id}"): ADMIN,
    ("analytics", "POST", "/v1/webhooks/subscriptions/{subscription_id}/secret"): ADMIN,
    ("analytics", "GET", "/v1/webhooks/subscriptions/{subscription_id}/deliveries"): ADMIN,
    ("analytics", "GET", "/v1/webhooks/subscriptions/{subscription_id}/deliveries/{delivery_id}"): ADMIN,
    ("analytics", "GET", "/v1/webhooks/subscriptions/{subscription_id}/dead-letters"): ADMIN,
    ("analytics", "POST", "/v1/webhooks/subscriptions/{subscription_id}/dead-letters/redeliver"): ADMIN,
    ("analytics", "POST", "/v1/webhooks/subscriptions/{subscription_id}/replays"): ADMIN,
    ("analytics", "GET", "/v1/webhooks/subscriptions/{subscription_id}/replays"): ADMIN,
    ("customer", "POST", "/v1/imports"): ADMIN,
    ("customer", "GET", "/v1/imports/{job_id}"): ADMIN,
    ("customer", "POST", "/v1/imports/batches"): ADMIN,
    ("ticketing", "POST", "/v1/imports/batches"): ADMIN,
    ("campaigns", "POST", "/v1/imports/batches"): ADMIN,
    # The audit trail: merged by the customer service from every service's part (service token).
    ("customer", "GET", "/v1/audit"): "audit:read",
    ("customer", "GET", "/v1/internal/audit"): "keys:read",
    ("ticketing", "GET", "/v1/internal/audit"): "keys:read",
    ("campaigns", "GET", "/v1/internal/audit"): "keys:read",
    ("analytics", "GET", "/v1/internal/audit"): "keys:read",
}

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id", "errors"}
WITH_BODY = {"POST", "PUT", "PATCH"}


@dataclass
class Seeded:
    """Real resources of customer A (whose data must never leak) and the ids that fill path parameters."""

    params: dict[str, str]
    secrets: list[str]
    customer_a: str
    customer_b: str


def _client(platform: RunningPlatform) -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {platform.admin_token}"}, timeout=20.0)


def _created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture(scope="module")
def seeded(api_platform: RunningPlatform) -> Seeded:
    p = api_platform
    run = uuid.uuid4().hex[:10]
    email = f"secret.person.{run}@example.com"
    name = f"Zeynep Gizli {run}"
    with _client(p) as http:
        a = _created(http.post(p.url("customer", "/v1/customers"),
                               json={"name": name, "email": email, "phone": "+905321234567"}))
        b = _created(http.post(p.url("customer", "/v1/customers"),
                               json={"name": f"Other {run}", "email": f"other.{run}@example.com"}))
        doomed = _created(http.post(p.url("customer", "/v1/customers"),
                                    json={"name": f"Doomed {run}", "email": f"doomed.{run}@example.com"}))
        order = _created(http.post(p.url("customer", "/v1/orders"), json={
            "customer_id": a["id"], "currency": "TRY", "channel": "web",
            "lines": [{"sku": "S-1", "name": "Secret thing", "category": "home", "quantity": 1,
                       "unit_price": "10.00", "unit_cost": "1.00"}]}))
        for step, body in (("ship", {"carrier": "X", "tracking_number": "T"}), ("deliver", None)):
            assert http.post(p.url("customer", f"/v1/orders/{order['id']}/{step}"), json=body).status_code == 200
        invoice = _created(http.post(p.url("customer", "/v1/invoices"),
                                     json={"order_id": order["id"], "due_date": "2031-01-01"}))
        ticket = _created(http.post(p.url("ticketing", "/v1/tickets"), json={
            "customer_id": a["id"], "kind": "complaint", "channel": "email",
            "subject": f"Private matter {run}", "description": f"Only for {email}"}))
        campaign = http.get(p.url("campaigns", "/v1/campaigns")).json()["items"]
        note = _created(http.post(p.url("customer", f"/v1/customers/{a['id']}/notes"), json={
            "text": f"Private note {run}", "follow_up": {"due_at": "2031-01-01T09:00:00Z"}}))
    return Seeded(
        params={
            "customer_id": a["id"], "order_id": order["id"], "invoice_id": invoice["id"], "ticket_id": ticket["id"],
            "campaign_id": campaign[0]["id"] if campaign else str(uuid.uuid4()), "subject": a["id"],
            "survey_id": str(uuid.uuid4()), "doomed": doomed["id"], "job_id": str(uuid.uuid4()),
            "subscription_id": str(uuid.uuid4()), "delivery_id": str(uuid.uuid4()), "alert_id": str(uuid.uuid4()),
            "follow_up_id": note["follow_up"]["id"],
            "calendar_name": "access-matrix", "export_id": str(uuid.uuid4()),
        },
        secrets=[email, name, "+905321234567", f"Private matter {run}", f"Private note {run}"],
        customer_a=a["id"], customer_b=b["id"],
    )


def _url(platform: RunningPlatform, seeded: Seeded, service: str, method: str, path: str) -> str:
    params = dict(seeded.params)
    if method == "DELETE":
        params["customer_id"] = params["doomed"]  # the right-scope call really erases
    return platform.url(service, re.sub(r"\{([^}]+)\}", lambda m: params[m.group(1)], path))


def _bad_tokens(platform: RunningPlatform) -> dict[str, str | None]:
    settings = platform.settings
    now = int(time.time())
    claims = {"sub": "intruder", "scope": "admin", "iss": settings.auth_jwt_issuer, "iat": now - 7200}
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(orjson.dumps({**claims, "exp": now + 600})).rstrip(b"=").decode()
    return {
        "no token": None,
        "expired": jwt.encode({**claims, "exp": now - 3600}, settings.auth_jwt_secret, "HS256"),
        "wrong signature": jwt.encode({**claims, "exp": now + 600}, "another-secret-" + "x" * 40, "HS256"),
        "unsigned (alg none)": f"{header}.{payload}.",
        "garbage": "not-a-jwt",
    }


def _assert_refused_without_data(answer: httpx.Response, statuses: set[int], seeded: Seeded, what: str) -> None:
    assert answer.status_code in statuses, f"{what}: {answer.status_code} {answer.text[:300]}"
    assert answer.headers["content-type"].startswith("application/problem+json"), what
    body = answer.json()
    for extra in set(body) - PROBLEM_KEYS:
        # A problem may name the resource the caller asked for (an id from the URL), nothing more.
        assert str(body[extra]) in answer.request.url.path, f"{what}: unexpected field {extra}={body[extra]!r}"
    for secret in seeded.secrets:
        assert secret not in answer.text, f"{what}: the answer leaks {secret!r}"


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20.0) as client:
        yield client


@pytest.fixture(scope="module")
def operations(api_platform: RunningPlatform) -> Iterator[set[tuple[str, str, str]]]:
    found: set[tuple[str, str, str]] = set()
    for service in api_platform.urls:
        spec = httpx.get(api_platform.url(service, "/openapi.json"), timeout=10.0).json()
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                if isinstance(operation, dict) and "responses" in operation:
                    found.add((service, method.upper(), path))
    yield found


def test_every_route_is_in_the_matrix(api_platform: RunningPlatform, operations: set[tuple[str, str, str]]) -> None:
    secured = set()
    for service in api_platform.urls:
        spec = httpx.get(api_platform.url(service, "/openapi.json"), timeout=10.0).json()
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                if isinstance(operation, dict) and operation.get("security"):
                    secured.add((service, method.upper(), path))
    assert operations - secured == PUBLIC, "an operation without a bearer requirement is not on the public list"
    assert secured == set(REQUIRED), "every secured operation needs its required scope in REQUIRED"


@pytest.mark.parametrize("operation", sorted(REQUIRED), ids=lambda o: f"{o[0]}:{o[1]}:{o[2]}")
def test_access_matrix(api_platform: RunningPlatform, seeded: Seeded, http: httpx.Client,
                       operation: tuple[str, str, str]) -> None:
    service, method, path = operation
    required = REQUIRED[operation]
    url = _url(api_platform, seeded, service, method, path)
    body: dict[str, Any] | None = {} if method in WITH_BODY else None

    def send(token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return http.request(method, url, json=body, headers=headers)

    for what, token in _bad_tokens(api_platform).items():
        answer = send(token)
        _assert_refused_without_data(answer, {401}, seeded, what)
        assert answer.headers.get("www-authenticate", "").startswith("Bearer"), what

    if required == AUTHENTICATED:
        for token in (api_platform.token(), api_platform.token(SELF, customer_id=seeded.customer_b)):
            answer = send(token)
            assert answer.status_code == 200, answer.text[:300]
            assert seeded.customer_a not in answer.text
        return

    others = sorted(KNOWN_SCOPES - {required, ADMIN, SELF})
    _assert_refused_without_data(send(api_platform.token(*others)), {403}, seeded, "every other scope")

    intruder = api_platform.token(SELF, *sorted(KNOWN_SCOPES - {ADMIN, SELF}), customer_id=seeded.customer_b)
    answer = send(intruder)
    if answer.status_code < 400:
        # Only the intruder's own data (an empty list, their own profile) may come back.
        assert method in ("GET", "POST", "PUT") and seeded.customer_a not in answer.text, answer.text[:300]
        for secret in seeded.secrets:
            assert secret not in answer.text, f"another customer's self token got {secret!r}"
    else:
        _assert_refused_without_data(answer, {401, 403, 404, 422}, seeded, "another customer's self token")
    if required == SELF:
        _assert_refused_without_data(send(api_platform.admin_token), {403}, seeded, "a staff token on /me")

    right = (api_platform.token(SELF, customer_id=seeded.customer_a) if required == SELF
             else api_platform.token(required))
    answer = send(right)
    assert answer.status_code not in (401, 403), f"the right scope was refused: {answer.text[:300]}"
    assert answer.status_code < 500, answer.text[:300]


PEOPLE = [user["username"] for user in demo_directory()["users"]]


@pytest.fixture(scope="module")
def people_tokens(oidc_provider: LocalOidcProvider) -> dict[str, str]:
    """One access token per demo person, each signed in through the provider's own login page."""
    return {user["username"]: oidc_provider.login(user["username"], user["password"])["access_token"]
            for user in demo_directory()["users"]}


def _allowed(required: str, scopes: frozenset[str]) -> bool:
    if required == AUTHENTICATED:
        return True
    if required == SELF:
        return False  # people are staff; /me is for customers
    return required in scopes or ADMIN in scopes


@pytest.mark.parametrize("operation", sorted(REQUIRED), ids=lambda o: f"{o[0]}:{o[1]}:{o[2]}")
def test_role_matrix(api_platform: RunningPlatform, seeded: Seeded, http: httpx.Client,
                     people_tokens: dict[str, str], operation: tuple[str, str, str]) -> None:
    service, method, path = operation
    required = REQUIRED[operation]
    url = _url(api_platform, seeded, service, method, path)
    body: dict[str, Any] | None = {} if method in WITH_BODY else None
    mapping = load_role_mapping(api_platform.settings)
    groups = {user["username"]: user["groups"] for user in demo_directory()["users"]}
    for person in PEOPLE:
        scopes = mapping.scopes_for(groups[person])
        answer = http.request(method, url, json=body, headers={"Authorization": f"Bearer {people_tokens[person]}"})
        if _allowed(required, scopes):
            assert answer.status_code not in (401, 403), f"{person} refused: {answer.text[:300]}"
            assert answer.status_code < 500, answer.text[:300]
        else:
            _assert_refused_without_data(answer, {403}, seeded, f"{person} ({', '.join(groups[person])})")
