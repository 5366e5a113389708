"""Provider tokens against a real OpenID Connect provider (``oidc-provider`` from npm, started per session).

Real discovery and JWKS, people in groups signing in through the provider's login form (code + PKCE),
services with client_credentials, a key rotation mid-test, and an unknown-``kid`` storm that must not
become a JWKS fetch storm. The JWKS cache's rate limit runs on a pinned monotonic clock.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest

from shared.settings import PlatformSettings
from shared.testing.oidc import AUDIENCE, LocalOidcProvider, demo_directory
from shared.web.auth import InvalidToken, OidcVerifier, authenticate
from shared.web.oidc import JwksCache


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings_for(provider: LocalOidcProvider, **extra: Any) -> PlatformSettings:
    return PlatformSettings(environment="test", auth_oidc_issuer=provider.issuer, **extra)


def verifier_for(provider: LocalOidcProvider, clock: Clock, min_refresh: float = 10.0) -> OidcVerifier:
    settings = settings_for(provider)
    return OidcVerifier(settings, JwksCache(issuer=provider.issuer, min_refresh_seconds=min_refresh, monotonic=clock))


def password_of(username: str) -> str:
    return next(u["password"] for u in demo_directory()["users"] if u["username"] == username)


def service(client_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in demo_directory()["services"] if s["client_id"] == client_id)
    return found


def provider_key(provider: LocalOidcProvider, kid: str) -> Any:
    """The provider's own private key (from its key file), to sign tokens with chosen claims."""
    jwk = next(k for k in json.loads(provider.keys_file.read_text())["keys"] if k["kid"] == kid)
    return jwt.PyJWK.from_dict(jwk).key


def forged(provider: LocalOidcProvider, kid: str, alg: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "someone", "iss": provider.issuer, "aud": AUDIENCE, "iat": now, "exp": now + 300,
            "groups": ["c360-admins"], **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, provider_key(provider, kid), alg,
                      headers={"kid": kid})


async def test_people_sign_in_and_their_groups_become_scopes(oidc_provider: LocalOidcProvider) -> None:
    verifier = verifier_for(oidc_provider, Clock())
    agent = oidc_provider.login("agent", password_of("agent"))
    assert jwt.get_unverified_header(agent["access_token"])["alg"] == "RS256"
    principal = await verifier.verify(agent["access_token"], jwt.get_unverified_header(agent["access_token"])["kid"],
                                      "RS256")
    assert principal.subject == "agent"
    assert principal.roles == {"c360-agents"}
    assert principal.scopes == {"customers:read", "tickets:read", "tickets:write"}
    assert principal.issuer == oidc_provider.issuer

    admin = oidc_provider.login("admin", password_of("admin"))["access_token"]
    admin_principal = await verifier.verify(admin, jwt.get_unverified_header(admin)["kid"], "RS256")
    assert admin_principal.has("campaigns:write") and admin_principal.has("admin")

    visitor = oidc_provider.login("visitor", password_of("visitor"))["access_token"]
    nobody = await verifier.verify(visitor, jwt.get_unverified_header(visitor)["kid"], "RS256")
    assert nobody.roles == {"all-staff"} and nobody.scopes == frozenset()
    assert not nobody.has("customers:read")
    assert verifier.jwks.fetches == 1

    with pytest.raises(PermissionError):
        oidc_provider.login("agent", "not-the-password")
    await verifier.jwks.aclose()


async def test_services_get_es256_client_credentials_tokens(oidc_provider: LocalOidcProvider) -> None:
    state = type("State", (), {})()
    state.settings = settings_for(oidc_provider)
    analytics = service("c360-analytics")
    token = oidc_provider.client_credentials(analytics["client_id"], analytics["client_secret"])
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    principal = await authenticate(state, token)
    assert principal.subject == "c360-analytics" and principal.scopes == {"keys:read"}

    probe = service("c360-probe")
    unmapped = await authenticate(state, oidc_provider.client_credentials(probe["client_id"], probe["client_secret"]))
    assert unmapped.scopes == frozenset()
    await state.oidc_verifier.jwks.aclose()


async def test_claims_are_checked_with_a_small_skew(oidc_provider: LocalOidcProvider) -> None:
    verifier = verifier_for(oidc_provider, Clock())
    rsa_kid, ec_kid = (k for k in oidc_provider.kids[:2])
    now = int(time.time())

    async def check(token: str, kid: str, alg: str) -> str:
        try:
            return (await verifier.verify(token, kid, alg)).subject
        except InvalidToken as refused:
            return f"refused: {refused}"

    assert await check(forged(oidc_provider, ec_kid, "ES256"), ec_kid, "ES256") == "someone"
    assert await check(forged(oidc_provider, rsa_kid, "RS256"), rsa_kid, "RS256") == "someone"
    for label, claims in {
        "wrong audience": {"aud": "urn:someone-else"},
        "no audience": {"aud": None},
        "wrong issuer": {"iss": "https://evil.example.com"},
        "expired beyond the skew": {"exp": now - 60},
        "not yet valid beyond the skew": {"nbf": now + 120},
        "no expiry": {"exp": None},
    }.items():
        assert (await check(forged(oidc_provider, rsa_kid, "RS256", **claims), rsa_kid, "RS256")).startswith(
            "refused"), label
    # Within the 30 s skew both ways.
    assert await check(forged(oidc_provider, rsa_kid, "RS256", exp=now - 10), rsa_kid, "RS256") == "someone"
    assert await check(forged(oidc_provider, rsa_kid, "RS256", nbf=now + 10), rsa_kid, "RS256") == "someone"
    # An RSA kid with an ES256 header (algorithm confusion) is refused.
    assert (await check(forged(oidc_provider, rsa_kid, "RS256"), rsa_kid, "ES256")).startswith("refused")
    await verifier.jwks.aclose()


async def test_key_rotation_mid_test_fetches_the_new_key_once(oidc_provider: LocalOidcProvider) -> None:
    clock = Clock()
    verifier = verifier_for(oidc_provider, clock)
    before = oidc_provider.login("lead", password_of("lead"))["access_token"]
    old_kid = jwt.get_unverified_header(before)["kid"]
    assert (await verifier.verify(before, old_kid, "RS256")).subject == "lead"
    assert verifier.jwks.fetches == 1

    new_kids = oidc_provider.rotate_keys(keep_old=True)
    clock.now += 11  # past the refetch interval since the first fetch
    after = oidc_provider.login("lead", password_of("lead"))["access_token"]
    new_kid = jwt.get_unverified_header(after)["kid"]
    assert new_kid in new_kids and new_kid != old_kid
    for _ in range(20):
        assert (await verifier.verify(after, new_kid, "RS256")).subject == "lead"
    assert verifier.jwks.fetches == 2, "a new kid is fetched exactly once"
    assert (await verifier.verify(before, old_kid, "RS256")).subject == "lead", "the old key is still published"
    assert verifier.jwks.fetches == 2
    await verifier.jwks.aclose()


async def test_an_unknown_kid_storm_is_not_a_fetch_storm(oidc_provider: LocalOidcProvider) -> None:
    clock = Clock()
    verifier = verifier_for(oidc_provider, clock, min_refresh=10.0)
    rsa_kid = oidc_provider.kids[0]
    real = forged(oidc_provider, rsa_kid, "RS256")
    assert (await verifier.verify(real, rsa_kid, "RS256")).subject == "someone"
    assert verifier.jwks.fetches == 1
    refused = 0
    for _ in range(500):
        kid = uuid.uuid4().hex
        try:
            await verifier.verify(real, kid, "RS256")
        except InvalidToken:
            refused += 1
    assert refused == 500
    assert verifier.jwks.fetches == 1, "unknown kids within the interval cause no fetch"
    clock.now += 10
    for _ in range(500):
        with pytest.raises(InvalidToken):
            await verifier.verify(real, uuid.uuid4().hex, "RS256")
    assert verifier.jwks.fetches == 2, "one fetch per interval, whatever the number of unknown kids"
    await verifier.jwks.aclose()


async def test_hs256_is_refused_outside_local_and_test_once_a_provider_is_configured(
    oidc_provider: LocalOidcProvider,
) -> None:
    from shared.web.auth import mint_token

    secret = "a-real-secret-for-staging-0123456789abcdef"
    local = PlatformSettings(environment="test", auth_oidc_issuer=oidc_provider.issuer, auth_jwt_secret=secret)
    staging = PlatformSettings(environment="staging", auth_oidc_issuer=oidc_provider.issuer, auth_jwt_secret=secret,
                               service_token="a-token-the-issuer-signed")
    token = mint_token(local, "tester", ["customers:read"])
    state = type("State", (), {"settings": local})()
    assert (await authenticate(state, token)).scopes == {"customers:read"}
    state = type("State", (), {"settings": staging})()
    with pytest.raises(InvalidToken):
        await authenticate(state, token)
    assert not staging.hs256_accepted and local.hs256_accepted
