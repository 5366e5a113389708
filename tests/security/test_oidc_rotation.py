"""The running APIs follow the real provider's key rotation: a new kid is fetched once, old tokens keep working.

The provider (session fixture) is restarted on the same port with a new key set in front of the old
one, as an identity provider publishes a new signing key; the four APIs run with a 1 s refetch interval.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid

import httpx
import jwt

from shared.testing.oidc import LocalOidcProvider, demo_directory
from shared.testing.platform import RunningPlatform
from shared.testing.waiting import eventually_sync

ADMIN = next(u for u in demo_directory()["users"] if u["username"] == "admin")


def sessions(platform: RunningPlatform, token: str) -> dict[str, int]:
    with httpx.Client(timeout=10.0, headers={"Authorization": f"Bearer {token}"}) as http:
        return {service: http.get(platform.url(service, "/v1/session")).status_code for service in platform.urls}


def test_a_rotated_key_is_accepted_by_every_api_and_old_tokens_keep_working(
    api_platform: RunningPlatform, oidc_provider: LocalOidcProvider
) -> None:
    before = oidc_provider.login(ADMIN["username"], ADMIN["password"])["access_token"]
    assert set(sessions(api_platform, before).values()) == {200}

    new_kids = oidc_provider.rotate_keys(keep_old=True)
    after = oidc_provider.login(ADMIN["username"], ADMIN["password"])["access_token"]
    assert jwt.get_unverified_header(after)["kid"] in new_kids

    # Within the 1 s refetch interval a brand-new kid may still be refused (401), never a 5xx.
    eventually_sync(lambda: sessions(api_platform, after), until=lambda s: set(s.values()) == {200}, timeout=15.0,
                    message="every API to accept a token signed with the rotated key")
    assert set(sessions(api_platform, before).values()) == {200}, "the old key is still published"

    with httpx.Client(timeout=10.0) as http:
        answer = http.get(api_platform.url("customer", "/v1/session"), headers={"Authorization": f"Bearer {after}"})
        assert answer.json()["roles"] == ["c360-admins"] and answer.json()["scopes"] == ["admin"]
        fetches_before = jwks_fetches(http, api_platform)
        began = time.monotonic()
        _, body, signature = after.split(".")
        for _ in range(300):  # forged kids: all refused, at most one JWKS fetch per 1 s interval
            header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": uuid.uuid4().hex}).encode())
            forged = f"{header.rstrip(b'=').decode()}.{body}.{signature}"
            refused = http.get(api_platform.url("customer", "/v1/session"),
                               headers={"Authorization": f"Bearer {forged}"})
            assert refused.status_code == 401
        elapsed = time.monotonic() - began
        storm_fetches = jwks_fetches(http, api_platform) - fetches_before
        assert storm_fetches <= elapsed + 1, f"{storm_fetches} JWKS fetches for 300 unknown kids in {elapsed:.1f} s"


def jwks_fetches(http: httpx.Client, platform: RunningPlatform) -> float:
    """The customer API's ``oidc_jwks_fetches_total`` (its /metrics, Prometheus text)."""
    text = http.get(platform.url("customer", "/metrics")).text
    found = re.search(r"^oidc_jwks_fetches_total (\S+)$", text, flags=re.M)
    assert found, "the API exports its JWKS fetch count"
    return float(found.group(1))
