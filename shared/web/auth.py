"""Bearer JWT authentication and scope checks for every service.

Tokens are verified locally (no call to an identity service per request): HS256 with
``AUTH_JWT_SECRET`` by default, RS256 with ``AUTH_JWT_PUBLIC_KEY`` when an external issuer signs
them. Only the configured algorithm is accepted, which closes the classic "alg: none" and
RS256-to-HS256 confusion attacks.

With ``AUTH_OIDC_ISSUER`` set, tokens of that OpenID Connect provider are accepted too (a ``kid``
header and RS256/ES256): keys come from its discovered JWKS (``shared.web.oidc``), ``iss``, ``aud``,
``exp`` and ``nbf`` are checked with ``CLOCK_SKEW_SECONDS``, and scopes come from the person's roles
through the role mapping, never from the token's ``scope`` claim.

HS256 (the shared secret, ``c360 token``) is for ``ENVIRONMENT=local``/``test`` only: elsewhere the
settings refuse to start without a provider or a public key, and ``decode_token`` refuses HS256
tokens whatever the settings say, so people and services sign in with the provider.

A self-service token (scope ``self`` plus a ``customer_id`` claim) is a customer acting on their own
data. It never inherits ``admin``, it is refused by every route that has not opted in with
``allow_self=True``, and on routes that have, a ``{customer_id}`` path parameter naming another
customer is refused before the handler runs. Handlers that take the customer id from the body call
``Principal.ensure_can_access_customer`` themselves.

Answers to failures carry no data: a 401 says the token is missing, expired or invalid; a 403 names
the scope that is missing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter

from shared.errors import Forbidden, Unauthorized
from shared.ops.logging import actor_var
from shared.settings import PlatformSettings
from shared.web.oidc import DEFAULT_ROLE_MAPPING, JwksCache, KeyUnavailable, RoleMapping, claim_values
from shared.web.token_cache import VerifiedTokens

ADMIN: Final = "admin"
SELF: Final = "self"
PRIVACY_MANAGE: Final = "privacy:manage"
"""Data-protection work on any customer: erasure, its acknowledgements, right-of-access exports.

Narrower than ``admin`` so a data-protection officer need not administer the platform to do it;
the customer's own export stays open to their self-service token (``allow_self``)."""
KNOWN_SCOPES: Final = frozenset(
    {
        "customers:read",
        "customers:write",
        "orders:write",
        "tickets:read",
        "tickets:write",
        "campaigns:read",
        "campaigns:write",
        "analytics:read",
        "keys:read",
        "audit:read",
        PRIVACY_MANAGE,
        ADMIN,
        SELF,
    }
)
"""Every scope the platform grants; ``require`` and ``mint_token`` refuse anything else (typos)."""

CLOCK_SKEW_SECONDS: Final = 30
"""Tolerance for clocks of issuer and service disagreeing when checking ``exp``."""

BEARER_SCHEME_NAME: Final = "bearerAuth"
_REALM: Final = 'Bearer realm="customer360"'
_PRINCIPAL_STATE_KEY: Final = "c360_principal"

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name=BEARER_SCHEME_NAME,
    bearerFormat="JWT",
    description="A JWT from `c360 token` (local) or the platform's issuer; scopes in the `scope` claim.",
)
"""The OpenAPI security scheme; routes that depend on it get the lock icon in ``/docs``."""


class MissingToken(Unauthorized):
    """No ``Authorization: Bearer`` header was sent."""

    headers: ClassVar[Mapping[str, str]] = {"WWW-Authenticate": _REALM}


class InvalidToken(Unauthorized):
    """The token is expired, malformed, wrongly signed, or lacks a required claim."""

    headers: ClassVar[Mapping[str, str]] = {"WWW-Authenticate": f'{_REALM}, error="invalid_token"'}


class InsufficientScope(Forbidden):
    """The token is valid but does not grant what the operation needs."""

    def __init__(self, detail: str, *, scope: str) -> None:
        super().__init__(detail)
        self.headers: Mapping[str, str] = {
            "WWW-Authenticate": f'{_REALM}, error="insufficient_scope", scope="{scope}"'
        }


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling and what they may do, as proven by a verified token."""

    subject: str
    scopes: frozenset[str]
    customer_id: str | None = None
    roles: frozenset[str] = frozenset()
    """The provider roles/groups the scopes came from (OpenID Connect tokens only)."""
    issuer: str = ""
    expires_at: float | None = field(default=None, compare=False)
    """The token's ``exp``: how long ``VerifiedTokens`` may remember it."""

    @property
    def is_self_service(self) -> bool:
        """True for a customer acting on their own data (scope ``self`` or a ``customer_id`` claim)."""
        return SELF in self.scopes or self.customer_id is not None

    def has(self, scope: str) -> bool:
        """Whether the token grants ``scope``; ``admin`` grants every scope, except to self-service tokens.

        ``self`` is a restriction, not a power, so ``admin`` does not imply it.
        """
        if scope in self.scopes:
            return not (scope == ADMIN and self.is_self_service)
        return scope != SELF and ADMIN in self.scopes and not self.is_self_service

    def ensure_can_access_customer(self, customer_id: str | uuid.UUID) -> None:
        """Raise ``Forbidden`` when a self-service principal touches another customer's data."""
        if self.is_self_service and not _same_id(self.customer_id, customer_id):
            raise Forbidden("This token may only access its own customer's data.")


def decode_token(settings: PlatformSettings, token: str) -> Principal:
    """Verify ``token`` (signature, ``exp``, ``iss``, required claims) and return its principal.

    Raises ``InvalidToken`` for anything wrong; the message never repeats the token. HS256 settings
    outside local/test (``hs256_accepted`` false) refuse every token, so no path can accept one there.
    """
    if settings.auth_jwt_algorithm == "HS256" and not settings.hs256_accepted:
        raise InvalidToken("The bearer token is invalid.")
    try:
        claims = jwt.decode(
            token,
            key=_verification_key(settings),
            algorithms=[settings.auth_jwt_algorithm],
            issuer=settings.auth_jwt_issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("The bearer token has expired.") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("The bearer token is invalid.") from exc
    return _principal_from_claims(claims)


async def authenticate(state: Any, token: str) -> Principal:
    """Verify a bearer token of either kind; ``state`` is ``app.state`` (settings, the OIDC verifier).

    A token with a ``kid`` and an algorithm of ``AUTH_OIDC_ALGORITHMS`` goes to the OpenID provider's
    keys; anything else to the local key (HS256 only in local/test, see ``decode_token``). A token
    verified moments ago is answered from ``state.verified_tokens`` (``shared.web.token_cache``).
    """
    cache: VerifiedTokens | None = getattr(state, "verified_tokens", None)
    if cache is not None and (known := cache.get(token)) is not None:
        return known
    principal = await _verify(state, token)
    if cache is not None and principal.expires_at is not None:
        cache.put(token, principal, expires_at=principal.expires_at, skew_seconds=CLOCK_SKEW_SECONDS)
    return principal


async def _verify(state: Any, token: str) -> Principal:
    settings: PlatformSettings = state.settings
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("The bearer token is invalid.") from exc
    if settings.auth_oidc_issuer and header.get("kid") and header.get("alg") in settings.oidc_algorithms:
        return await oidc_verifier(state).verify(token, str(header["kid"]), str(header["alg"]))
    return decode_token(settings, token)


class OidcVerifier:
    """Verifies an OpenID provider's access tokens: PyJWT does the JOSE, ``JwksCache`` the keys."""

    def __init__(self, settings: PlatformSettings, jwks: JwksCache | None = None) -> None:
        self.settings = settings
        self.issuer = settings.auth_oidc_issuer
        self.algorithms = frozenset(settings.oidc_algorithms)
        self.mapping = load_role_mapping(settings)
        self.jwks = jwks or JwksCache(
            issuer=self.issuer,
            min_refresh_seconds=settings.auth_oidc_jwks_min_refresh_seconds,
            max_age_seconds=settings.auth_oidc_jwks_cache_seconds,
        )

    async def verify(self, token: str, kid: str, alg: str) -> Principal:
        """The principal of a provider token, or ``InvalidToken`` (unknown key, bad claims, expired)."""
        try:
            key = await self.jwks.key(kid)
        except KeyUnavailable as exc:
            raise InvalidToken("The bearer token is invalid.") from exc
        # The key decides the algorithm (an RSA key never verifies an ES256 header, and vice versa).
        if key.algorithm_name != alg or alg not in self.algorithms:
            raise InvalidToken("The bearer token is invalid.")
        return self.principal(self.decode(token, key))

    def decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        """Signature, ``iss``, ``aud``, ``exp``, ``nbf`` (with ``CLOCK_SKEW_SECONDS``) by PyJWT."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[key.algorithm_name],
                issuer=self.issuer,
                audience=self.settings.auth_oidc_audience,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("The bearer token has expired.") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken("The bearer token is invalid.") from exc
        return claims

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        """Scopes from the mapped roles only; ``self`` never comes from a provider token."""
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("The bearer token is invalid.")
        roles = claim_values(claims, self.settings.auth_oidc_roles_claim)
        return Principal(subject=subject, scopes=self.mapping.scopes_for(roles), roles=roles, issuer=self.issuer,
                         expires_at=_expiry(claims))


def oidc_verifier(state: Any) -> OidcVerifier:
    """The app's verifier (one JWKS cache per process), created on first use."""
    verifier = getattr(state, "oidc_verifier", None)
    if verifier is None:
        verifier = OidcVerifier(state.settings)
        registry = getattr(state, "metrics_registry", None)
        if registry is not None:
            fetches = Counter("oidc_jwks_fetches_total",
                              "JWKS downloads from the OpenID provider (first use, rotation, refresh).",
                              registry=registry)
            verifier.jwks.on_fetch = fetches.inc
        state.oidc_verifier = verifier
    return verifier


def load_role_mapping(settings: PlatformSettings) -> RoleMapping:
    """The role mapping file (``AUTH_OIDC_ROLE_MAPPING`` or the packaged default), validated."""
    return RoleMapping.load(settings.auth_oidc_role_mapping or DEFAULT_ROLE_MAPPING,
                            known_scopes=KNOWN_SCOPES, forbidden=frozenset({SELF}))


def mint_token(
    settings: PlatformSettings,
    subject: str,
    scopes: Iterable[str],
    customer_id: str | uuid.UUID | None = None,
    ttl_seconds: int = 3600,
    *,
    private_key: str | bytes | None = None,
) -> str:
    """Sign a token the services accept (for the CLI, the local run and tests).

    HS256 signs with ``settings.auth_jwt_secret``; RS256 needs the issuer's PEM ``private_key``.
    A ``customer_id`` makes a self-service token and requires the ``self`` scope (and vice versa).
    """
    granted = sorted(set(scopes))
    unknown = set(granted) - KNOWN_SCOPES
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    if (SELF in granted) != (customer_id is not None):
        raise ValueError("a self-service token needs both the 'self' scope and a customer_id")
    if not subject:
        raise ValueError("subject must not be empty")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "scope": " ".join(granted),
        "iss": settings.auth_jwt_issuer,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if customer_id is not None:
        claims["customer_id"] = str(customer_id)
    if settings.auth_jwt_algorithm == "RS256":
        if private_key is None:
            raise ValueError("RS256 tokens need the issuer's private key")
        signing_key = serialization.load_pem_private_key(_pem(private_key), None)
        if not isinstance(signing_key, RSAPrivateKey):
            raise ValueError("RS256 needs an RSA private key")
        return jwt.encode(claims, signing_key, "RS256")
    return jwt.encode(claims, settings.auth_jwt_secret, "HS256")


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """Dependency: the verified caller, or a 401 problem. No scope check; see ``require``."""
    cached = getattr(request.state, _PRINCIPAL_STATE_KEY, None)
    if isinstance(cached, Principal):
        return cached
    if credentials is None or not credentials.credentials:
        raise MissingToken("A bearer token is required.")
    principal = await authenticate(request.app.state, credentials.credentials)
    setattr(request.state, _PRINCIPAL_STATE_KEY, principal)
    actor_var.set(principal.subject)
    return principal


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    """Dependency: the verified caller when a token is sent, ``None`` when none is (bad ones are 401)."""
    if credentials is None:
        return None
    return await current_principal(request, credentials)


async def authenticate_before_refusing(request: Request, principal: Principal | None) -> None:
    """Authentication comes first: on a route that needs a token, a caller without one gets the 401.

    Dependencies that check request headers (``If-Match``, ``Idempotency-Key``) call this before
    refusing a malformed value, so an anonymous client learns it must authenticate, not how our
    headers are shaped, whatever order the route declares its parameters in. An invalid token never
    gets here: ``optional_principal`` already answered 401.
    """
    if principal is None and route_requires_authentication(request.scope.get("route")):
        raise MissingToken("A bearer token is required.")


def route_requires_authentication(route: Any) -> bool:
    """Whether ``route`` (a FastAPI ``APIRoute``) depends on ``current_principal``, e.g. through ``require``."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return False
    cached = _ROUTES_WITH_AUTH.get(id(dependant))
    if cached is None:
        cached = _depends_on(dependant, current_principal)
        _ROUTES_WITH_AUTH[id(dependant)] = cached
    return cached


_ROUTES_WITH_AUTH: dict[int, bool] = {}


def _depends_on(dependant: Any, call: Callable[..., Any]) -> bool:
    pending = list(dependant.dependencies)
    while pending:
        child = pending.pop()
        if child.call is call:
            return True
        pending.extend(child.dependencies)
    return False


def require(*scopes: str, allow_self: bool = False) -> Callable[..., Awaitable[Principal]]:
    """Dependency factory: a caller holding every one of ``scopes``.

    ``allow_self=True`` also admits self-service tokens (whatever their scopes), restricted to their
    own customer: a ``customer_id`` path parameter naming someone else is a 403. Without it,
    self-service tokens are refused, so list and admin routes can never leak other customers' data.

    Use as ``principal: Annotated[Principal, Depends(require("customers:read"))]``.
    """
    unknown = set(scopes) - KNOWN_SCOPES
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    needed = tuple(scopes)

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if principal.is_self_service:
            if not allow_self:
                raise InsufficientScope(
                    "Self-service tokens cannot use this operation.", scope=" ".join(needed) or ADMIN
                )
            path_customer = request.path_params.get("customer_id")
            if path_customer is not None:
                principal.ensure_can_access_customer(str(path_customer))
            return principal
        missing = [scope for scope in needed if not principal.has(scope)]
        if missing:
            raise InsufficientScope(
                f"This token lacks the required scope: {' '.join(missing)}.", scope=" ".join(needed)
            )
        return principal

    return dependency


def _principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    subject = claims.get("sub")
    scope = claims.get("scope", "")
    customer_id = claims.get("customer_id")
    if not isinstance(subject, str) or not subject or not isinstance(scope, str):
        raise InvalidToken("The bearer token is invalid.")
    if customer_id is not None and not isinstance(customer_id, str):
        raise InvalidToken("The bearer token is invalid.")
    scopes = frozenset(scope.split())
    if SELF in scopes and not customer_id:
        raise InvalidToken("The bearer token is invalid.")
    return Principal(subject=subject, scopes=scopes, customer_id=customer_id or None, expires_at=_expiry(claims))


def _expiry(claims: Mapping[str, Any]) -> float | None:
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def validate_auth_settings(settings: PlatformSettings) -> None:
    """Fail at start-up, not on the first request, when the verification key or role mapping is unusable."""
    _verification_key(settings)
    if settings.auth_oidc_issuer:
        load_role_mapping(settings)


def _verification_key(settings: PlatformSettings) -> str | RSAPublicKey:
    if settings.auth_jwt_algorithm == "RS256":
        return _load_public_key(settings.auth_jwt_public_key or "")
    return settings.auth_jwt_secret


@lru_cache(maxsize=8)
def _load_public_key(pem: str) -> RSAPublicKey:
    # Parsing a PEM costs far more than verifying a signature; do it once per key, not per request.
    key = serialization.load_pem_public_key(_pem(pem))
    if not isinstance(key, RSAPublicKey):
        raise ValueError("AUTH_JWT_PUBLIC_KEY is not an RSA public key")
    return key


def _pem(value: str | bytes) -> bytes:
    # Keys passed through environment variables often arrive with literal "\n" sequences.
    text = value.decode() if isinstance(value, bytes) else value
    return text.replace("\\n", "\n").strip().encode()


def _same_id(left: str | uuid.UUID | None, right: str | uuid.UUID) -> bool:
    if left is None:
        return False
    try:
        return uuid.UUID(str(left)) == uuid.UUID(str(right))
    except ValueError:
        return str(left) == str(right)
