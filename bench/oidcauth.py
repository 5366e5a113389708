"""OpenID Connect tokens (issue 22.1): what verifying a provider token costs, and an unknown-kid storm.

Against the real local provider (``deploy/local/oidc/provider.mjs``, started and stopped here):

* ``authenticate`` of a person's RS256 access token and a service's ES256 one (JWKS cached), next to
  the local HS256 token it replaces outside local/test (the cost of a signature check per request);
* ``size`` forged tokens with random ``kid``\\ s sent for at least ``STORM_SECONDS`` with a 1-second
  refetch interval: the JWKS fetches counted, next to one fetch per unknown kid (what a cache that
  refetches on every miss, like PyJWKClient's, would do).
"""

from __future__ import annotations

import base64
import json
import tempfile
import time
import uuid
from pathlib import Path

from bench.report import Figure
from bench.setup import Size
from shared.settings import PlatformSettings
from shared.testing.oidc import LocalOidcProvider, demo_directory, free_port
from shared.web.auth import InvalidToken, authenticate, mint_token
from shared.web.token_cache import VerifiedTokens

SIZE = Size(default=20_000, smoke=200, full=200_000, counts="forged tokens with unknown kids")
VERIFICATIONS = 5_000
STORM_SECONDS = 3.0


class _State:
    def __init__(self, settings: PlatformSettings, verified_tokens: VerifiedTokens | None = None) -> None:
        self.settings = settings
        self.verified_tokens = verified_tokens


async def _cost(state: _State, token: str) -> float:
    """Microseconds per ``authenticate`` of the same token, after one warm-up call."""
    await authenticate(state, token)
    began = time.perf_counter()
    for _ in range(VERIFICATIONS):
        await authenticate(state, token)
    return (time.perf_counter() - began) / VERIFICATIONS * 1e6


async def run(size: int) -> list[Figure]:
    provider = LocalOidcProvider(port=free_port(), work_dir=Path(tempfile.mkdtemp(prefix="c360-oidc-bench-")))
    provider.start()
    try:
        return await _measure(provider, size)
    finally:
        provider.stop()


async def _measure(provider: LocalOidcProvider, size: int) -> list[Figure]:
    settings = PlatformSettings(environment="test", auth_oidc_issuer=provider.issuer,
                                auth_oidc_jwks_min_refresh_seconds=1.0)
    state = _State(settings)
    directory = demo_directory()
    person = next(u for u in directory["users"] if u["username"] == "agent")
    client = next(s for s in directory["services"] if s["client_id"] == "c360-analytics")
    tokens = {
        "RS256 person": provider.login(person["username"], person["password"])["access_token"],
        "ES256 service": provider.client_credentials(client["client_id"], client["client_secret"]),
        "HS256 local": mint_token(settings, "bench", ["customers:read"]),
    }
    cost = {label: await _cost(state, token) for label, token in tokens.items()}
    remembering = _State(settings, VerifiedTokens())
    remembered = await _cost(remembering, tokens["RS256 person"])
    figures = [
        Figure("oidcauth", f"verify a provider token ({label}, JWKS cached)", round(cost[label], 1), "us/request",
               comparison=f"local HS256 {cost['HS256 local']:.1f} us/request",
               ratio=round(cost[label] / cost["HS256 local"], 2))
        for label in ("RS256 person", "ES256 service")
    ]
    figures.append(Figure("oidcauth", "the same RS256 token again, remembered (VerifiedTokens)", round(remembered, 1),
                          "us/request", comparison=f"verified each time {cost['RS256 person']:.1f} us/request",
                          ratio=round(remembered / cost["RS256 person"], 2)))
    verifier = state.oidc_verifier  # type: ignore[attr-defined]
    before = verifier.jwks.fetches
    _, body, signature = tokens["RS256 person"].split(".")
    sent = refused = 0
    began = time.perf_counter()
    while sent < size or time.perf_counter() - began < STORM_SECONDS:
        header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": uuid.uuid4().hex}).encode())
        sent += 1
        try:
            await authenticate(state, f"{header.rstrip(b'=').decode()}.{body}.{signature}")
        except InvalidToken:
            refused += 1
    elapsed = time.perf_counter() - began
    fetches = verifier.jwks.fetches - before
    await verifier.jwks.aclose()
    assert refused == sent
    figures.append(Figure("oidcauth", f"JWKS fetches for {sent} unknown kids in {elapsed:.1f} s (1 s interval)",
                          fetches, "fetches", target=elapsed + 1, op="<=",
                          comparison=f"{sent} fetches refetching per miss", ratio=round(fetches / sent, 6)))
    return figures
