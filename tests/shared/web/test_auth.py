"""Bearer JWT auth: who may call what, and how refusals look."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from shared.errors import Forbidden
from shared.web import InvalidToken, Principal, decode_token, mint_token, require

from .conftest import (
    CUSTOMER_ID,
    OTHER_CUSTOMER_ID,
    SECRET,
    DemoSettings,
    client_for,
    make_app,
    make_settings,
)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "sub": "tester",
        "scope": "analytics:read",
        "iss": "customer360",
        "exp": now + 600,
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rsa_key_pair() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem.decode()


@pytest.mark.asyncio
async def test_a_valid_token_with_the_scope_is_let_in(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.get("/v1/reports", headers=auth("analytics:read", subject="analyst-7"))

    assert response.status_code == 200
    assert response.json() == {"subject": "analyst-7"}


@pytest.mark.asyncio
async def test_a_missing_token_is_a_401_asking_for_a_bearer_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/reports")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error=" not in response.headers["WWW-Authenticate"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("name", "make_token", "detail"),
    [
        ("expired", lambda: jwt.encode(claims(exp=int(time.time()) - 3600), SECRET, "HS256"), "expired"),
        ("wrong signature", lambda: jwt.encode(claims(), "another-secret-0123456789abcdef-xyz", "HS256"), "invalid"),
        ("malformed", lambda: "not.a.jwt", "invalid"),
        ("garbage", lambda: "%%%", "invalid"),
        ("no exp", lambda: jwt.encode(claims(exp=None), SECRET, "HS256"), "invalid"),
        ("wrong issuer", lambda: jwt.encode(claims(iss="someone-else"), SECRET, "HS256"), "invalid"),
        ("no issuer", lambda: jwt.encode(claims(iss=None), SECRET, "HS256"), "invalid"),
        ("alg none", lambda: jwt.encode(claims(), "", "none"), "invalid"),
        ("self without customer", lambda: jwt.encode(claims(scope="self"), SECRET, "HS256"), "invalid"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_a_bad_token_is_a_401_that_says_nothing_more(
    client: httpx.AsyncClient, name: str, make_token: Callable[[], str], detail: str
) -> None:
    # Minted when the test runs, not at collection: a long suite would otherwise outlive "exp".
    token = make_token()
    response = await client.get("/v1/reports", headers=bearer(token))

    assert response.status_code == 401, name
    body = response.json()
    assert detail in body["detail"], name
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert token not in response.text
    assert set(body) == {"type", "title", "status", "detail", "instance", "request_id"}


@pytest.mark.asyncio
async def test_a_basic_auth_header_counts_as_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/reports", headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert response.status_code == 401


@pytest.mark.asyncio
async def test_a_token_without_the_scope_is_a_403_naming_the_scope(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.get("/v1/reports", headers=auth("customers:read", "tickets:read"))

    assert response.status_code == 403
    body = response.json()
    assert body["type"] == "https://customer360.dev/problems/forbidden"
    assert "analytics:read" in body["detail"]
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


@pytest.mark.asyncio
async def test_admin_implies_every_scope(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    assert (await client.get("/v1/reports", headers=auth("admin"))).status_code == 200


@pytest.mark.asyncio
async def test_self_service_reads_its_own_customer(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.get(f"/v1/customers/{CUSTOMER_ID}", headers=auth("self", customer_id=CUSTOMER_ID))

    assert response.status_code == 200
    assert response.json() == {"customer_id": CUSTOMER_ID}


@pytest.mark.asyncio
async def test_self_service_matches_its_customer_id_case_insensitively(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.get(
        f"/v1/customers/{CUSTOMER_ID.upper()}", headers=auth("self", customer_id=CUSTOMER_ID)
    )

    assert response.status_code == 200


@pytest.mark.asyncio
async def test_self_service_cannot_read_another_customer(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.get(
        f"/v1/customers/{OTHER_CUSTOMER_ID}", headers=auth("self", customer_id=CUSTOMER_ID)
    )

    assert response.status_code == 403
    assert OTHER_CUSTOMER_ID not in response.json()["detail"]
    assert CUSTOMER_ID not in response.text


@pytest.mark.asyncio
async def test_self_service_is_refused_where_the_route_did_not_opt_in(client: httpx.AsyncClient) -> None:
    settings = make_settings()
    # Even a self-service token that also claims admin and the route's scope.
    sneaky = mint_token(settings, "customer", ["self", "admin", "analytics:read"], customer_id=CUSTOMER_ID)

    response = await client.get("/v1/reports", headers=bearer(sneaky))

    assert response.status_code == 403


def test_admin_grants_every_scope_but_never_to_self_service_tokens() -> None:
    admin = Principal(subject="ops", scopes=frozenset({"admin"}))
    customer = Principal(subject="c", scopes=frozenset({"self", "admin"}), customer_id=CUSTOMER_ID)

    assert admin.has("customers:write") and admin.has("keys:read") and admin.has("admin")
    assert not admin.has("self")
    assert not admin.is_self_service
    assert customer.is_self_service
    assert not customer.has("admin")
    assert not customer.has("customers:write")
    assert customer.has("self")


def test_ensure_can_access_customer_only_restricts_self_service() -> None:
    customer = Principal(subject="c", scopes=frozenset({"self"}), customer_id=CUSTOMER_ID)
    staff = Principal(subject="agent", scopes=frozenset({"customers:read"}))

    customer.ensure_can_access_customer(CUSTOMER_ID)
    staff.ensure_can_access_customer(OTHER_CUSTOMER_ID)
    with pytest.raises(Forbidden):
        customer.ensure_can_access_customer(OTHER_CUSTOMER_ID)


def test_minted_tokens_round_trip(settings: DemoSettings) -> None:
    token = mint_token(settings, "agent-1", ["tickets:write", "tickets:read"], ttl_seconds=60)

    principal = decode_token(settings, token)

    assert principal == Principal(subject="agent-1", scopes=frozenset({"tickets:read", "tickets:write"}))
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="customer360")
    assert payload["scope"] == "tickets:read tickets:write"
    assert 0 < payload["exp"] - time.time() <= 60


def test_minted_self_service_tokens_carry_the_customer(settings: DemoSettings) -> None:
    principal = decode_token(settings, mint_token(settings, "c-1", ["self"], customer_id=CUSTOMER_ID))

    assert principal.customer_id == CUSTOMER_ID
    assert principal.is_self_service


@pytest.mark.parametrize(
    ("scopes", "customer_id", "ttl"),
    [
        (["customers:reed"], None, 60),
        (["self"], None, 60),
        (["customers:read"], CUSTOMER_ID, 60),
        (["customers:read"], None, 0),
    ],
)
def test_mint_token_refuses_inconsistent_requests(
    settings: DemoSettings, scopes: list[str], customer_id: str | None, ttl: int
) -> None:
    with pytest.raises(ValueError):
        mint_token(settings, "x", scopes, customer_id=customer_id, ttl_seconds=ttl)


def test_require_refuses_unknown_scopes_at_definition_time() -> None:
    with pytest.raises(ValueError, match="customer:read"):
        require("customer:read")


def test_tokens_signed_for_another_secret_do_not_decode(settings: DemoSettings) -> None:
    other = make_settings(auth_jwt_secret="a-different-secret-of-enough-length-0123")

    with pytest.raises(InvalidToken):
        decode_token(other, mint_token(settings, "x", ["admin"]))


@pytest.mark.asyncio
async def test_rs256_tokens_verify_with_the_public_key() -> None:
    private_pem, public_pem = rsa_key_pair()
    settings = make_settings(auth_jwt_algorithm="RS256", auth_jwt_public_key=public_pem)
    token = mint_token(settings, "issuer-client", ["analytics:read"], private_key=private_pem)

    async with client_for(make_app(settings)) as client:
        response = await client.get("/v1/reports", headers=bearer(token))

    assert response.status_code == 200
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


@pytest.mark.asyncio
async def test_rs256_services_refuse_hs256_tokens_even_signed_with_the_public_key() -> None:
    # The classic algorithm-confusion attack: HMAC keyed with the (public) RSA key.
    _, public_pem = rsa_key_pair()
    settings = make_settings(auth_jwt_algorithm="RS256", auth_jwt_public_key=public_pem)
    forged = jwt.encode(claims(), SECRET, "HS256")
    other_private, _ = rsa_key_pair()
    wrong_key = mint_token(settings, "x", ["analytics:read"], private_key=other_private)

    async with client_for(make_app(settings)) as client:
        assert (await client.get("/v1/reports", headers=bearer(forged))).status_code == 401
        assert (await client.get("/v1/reports", headers=bearer(wrong_key))).status_code == 401


def test_rs256_minting_needs_the_private_key() -> None:
    _, public_pem = rsa_key_pair()
    settings = make_settings(auth_jwt_algorithm="RS256", auth_jwt_public_key=public_pem)

    with pytest.raises(ValueError, match="private key"):
        mint_token(settings, "x", ["admin"])


def test_an_unusable_public_key_fails_at_start_up() -> None:
    settings = make_settings(auth_jwt_algorithm="RS256", auth_jwt_public_key="not a pem")

    with pytest.raises(ValueError):
        make_app(settings)


PROVIDER = "https://idp.example.com/realms/c360"
"""An issuer no test reaches: tokens here carry no ``kid``, so the provider's keys are never fetched."""


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_outside_local_and_test_a_service_refuses_to_start_without_an_issuer_or_a_public_key(
    environment: str,
) -> None:
    with pytest.raises(ValidationError) as refused:
        make_settings(environment=environment)

    message = str(refused.value)
    assert "AUTH_OIDC_ISSUER" in message and "AUTH_JWT_PUBLIC_KEY" in message and "RS256" in message
    assert make_settings(environment=environment, auth_oidc_issuer=PROVIDER).auth_oidc_issuer == PROVIDER
    _, public_pem = rsa_key_pair()
    assert make_settings(environment=environment, auth_jwt_algorithm="RS256", auth_jwt_public_key=public_pem)


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_outside_local_and_test_a_service_refuses_to_start_without_a_way_to_call_the_others(environment: str) -> None:
    """A token minted from AUTH_JWT_SECRET would be refused by every service there: say so at start-up."""
    with pytest.raises(ValidationError) as refused:
        make_settings(environment=environment, auth_oidc_issuer=PROVIDER, service_token=None)
    assert "SERVICE_OIDC_CLIENT_ID" in str(refused.value) and "SERVICE_TOKEN" in str(refused.value)
    client = make_settings(environment=environment, auth_oidc_issuer=PROVIDER, service_token=None,
                           service_oidc_client_id="c360-services", service_oidc_client_secret="s" * 32)
    assert client.service_oidc_client_id == "c360-services"


@pytest.mark.asyncio
async def test_a_production_service_answers_an_hs256_token_with_a_401_problem() -> None:
    prod = make_settings(environment="prod", auth_oidc_issuer=PROVIDER)
    signed = mint_token(make_settings(), "tester", ["analytics:read"])  # the same secret, minted as in a test run
    with_kid = jwt.encode(claims(), SECRET, "HS256", headers={"kid": "k1"})  # not an algorithm of the provider

    async with client_for(make_app(prod)) as client:
        for token in (signed, with_kid):
            response = await client.get("/v1/reports", headers=bearer(token))
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/problem+json"
            assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
            assert response.json()["title"] and token not in response.text
    async with client_for(make_app(make_settings(auth_oidc_issuer=PROVIDER))) as client:
        assert (await client.get("/v1/reports", headers=bearer(signed))).status_code == 200  # test: accepted


def test_hs256_tokens_are_refused_outside_local_and_test_whatever_the_settings_say() -> None:
    # Settings that skipped validation (model_construct) must not reopen HS256 in production.
    token = mint_token(make_settings(), "tester", ["admin"])
    unchecked = DemoSettings.model_construct(**{**make_settings().model_dump(), "environment": "prod"})

    assert unchecked.auth_jwt_algorithm == "HS256" and not unchecked.hs256_accepted
    with pytest.raises(InvalidToken):
        decode_token(unchecked, token)
    assert decode_token(make_settings(), token).scopes == {"admin"}
