"""Tokens from an OpenID Connect provider: discovery, a rate-limited JWKS cache, roles mapped to scopes.

The provider (Keycloak, Entra ID, Okta, the local ``deploy/local/oidc/provider.mjs``) is found through
``{AUTH_OIDC_ISSUER}/.well-known/openid-configuration``; its ``jwks_uri`` is fetched and cached. JOSE
itself (JWK parsing, RS256/ES256 signatures, ``exp``/``nbf``/``iss``/``aud``) is PyJWT's, not ours:
this module only decides *when* to fetch keys.

Key rotation: a token whose ``kid`` is not cached triggers one refetch, so a newly published key is
picked up on its first use. An unknown ``kid`` never causes more than one fetch per
``AUTH_OIDC_JWKS_MIN_REFRESH_SECONDS`` (single flight, rate limited): a flood of forged tokens with
random ``kid``\\ s costs the provider at most one request per interval, and each is refused with 401.
Known keys are refreshed after ``AUTH_OIDC_JWKS_CACHE_SECONDS``; if the provider is down then, the
keys already known keep working (availability over freshness; a removed key stops working at the
next successful refresh).

People's scopes come from their roles, never from the token's ``scope`` claim: the provider's group
or role claim (``AUTH_OIDC_ROLES_CLAIM``, a dotted path such as ``realm_access.roles`` for Keycloak)
is mapped through the role mapping (``shared/web/roles.json`` or ``AUTH_OIDC_ROLE_MAPPING``), and a
role not in the mapping grants nothing (least privilege). See docs/authentication.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import jwt

log = logging.getLogger(__name__)

DEFAULT_ROLE_MAPPING: Final = Path(__file__).with_name("roles.json")
DISCOVERY_PATH: Final = "/.well-known/openid-configuration"


class KeyUnavailable(Exception):
    """No verification key for the token's ``kid`` (unknown, or refetch rate-limited, or provider down)."""


@dataclass(frozen=True, slots=True)
class Role:
    """One provider group/role and the scopes it grants."""

    name: str
    label: str
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class RoleMapping:
    """Provider roles to platform scopes, loaded from data (JSON), validated against the known scopes."""

    roles: Mapping[str, Role]

    def scopes_for(self, roles: Iterable[str]) -> frozenset[str]:
        """The union of the scopes of ``roles`` that are mapped; unmapped roles grant nothing."""
        granted: set[str] = set()
        for name in roles:
            role = self.roles.get(name)
            if role is not None:
                granted |= role.scopes
        return frozenset(granted)

    @classmethod
    def load(cls, path: str | Path, known_scopes: frozenset[str], forbidden: frozenset[str]) -> RoleMapping:
        """Read and validate a mapping file; an unknown or forbidden scope is a start-up error."""
        document = json.loads(Path(path).read_text())
        roles: dict[str, Role] = {}
        for name, entry in document["roles"].items():
            scopes = frozenset(entry["scopes"])
            unknown = scopes - known_scopes
            if unknown:
                raise ValueError(f"role mapping {path}: role {name!r} grants unknown scopes {sorted(unknown)}")
            if scopes & forbidden:
                raise ValueError(f"role mapping {path}: role {name!r} may not grant {sorted(scopes & forbidden)}")
            roles[name] = Role(name=name, label=str(entry.get("label", name)), scopes=scopes)
        return cls(roles=roles)


def claim_values(claims: Mapping[str, Any], path: str) -> frozenset[str]:
    """The strings at a dotted claim path (``groups``, ``realm_access.roles``); empty when absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return frozenset()
        value = value.get(part)
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()


@dataclass
class JwksCache:
    """Discovery + JWKS of one issuer, refetched on an unknown ``kid`` at most once per ``min_refresh``.

    ``fetches`` counts JWKS downloads (the figure the unknown-kid storm test and bench report).
    """

    issuer: str
    min_refresh_seconds: float = 10.0
    max_age_seconds: float = 3600.0
    transport: httpx.AsyncBaseTransport | None = None
    monotonic: Callable[[], float] = time.monotonic
    on_fetch: Callable[[], None] | None = None
    """Called per JWKS fetch (the service's ``oidc_jwks_fetches_total`` counter)."""
    fetches: int = 0
    _keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    _fetched_at: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _client: httpx.AsyncClient | None = None

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key named ``kid``, fetching the JWKS when it is unknown or stale (rate limited)."""
        found = self._keys.get(kid)
        if found is not None and not self._stale():
            return found
        async with self._lock:
            found = self._keys.get(kid)
            if found is not None and not self._stale():
                return found  # another request refreshed while this one waited
            if self._may_fetch():
                await self._refresh()
            found = self._keys.get(kid)
        if found is None:
            raise KeyUnavailable(kid)
        return found

    def _stale(self) -> bool:
        return self._fetched_at is None or self.monotonic() - self._fetched_at > self.max_age_seconds

    def _may_fetch(self) -> bool:
        return self._fetched_at is None or self.monotonic() - self._fetched_at >= self.min_refresh_seconds

    async def _refresh(self) -> None:
        # Counted and timed before the request, so a provider that is down is not hammered either.
        self._fetched_at = self.monotonic()
        self.fetches += 1
        if self.on_fetch is not None:
            self.on_fetch()
        try:
            client = self._http()
            discovery = (await client.get(self.issuer.rstrip("/") + DISCOVERY_PATH)).raise_for_status().json()
            if discovery.get("issuer") != self.issuer:
                raise ValueError(f"discovery names issuer {discovery.get('issuer')!r}, expected {self.issuer!r}")
            document = (await client.get(discovery["jwks_uri"])).raise_for_status().json()
            keyset = jwt.PyJWKSet.from_dict(document)
        except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWKSetError) as exc:
            log.warning("oidc: fetching the JWKS of %s failed (%s); keeping %d known keys",
                        self.issuer, type(exc).__name__, len(self._keys))
            return
        self._keys = {key.key_id: key for key in keyset.keys if key.key_id}
        log.info("oidc: fetched %d keys from %s", len(self._keys), self.issuer)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(3.0), transport=self.transport)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client (tests; a service keeps one cache for its lifetime)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
