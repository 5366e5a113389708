"""One settings base for every process, read from the environment (pydantic-settings).

The same variable names work in the local run, docker-compose and Kubernetes. Shared settings have
no prefix (``KAFKA_BOOTSTRAP_SERVERS``, ``AUTH_JWT_SECRET``); a service's own settings carry its name
(``CUSTOMER_DATABASE_URL``). Outside ``ENVIRONMENT=local``/``test`` a placeholder secret is refused at
start-up, so a forgotten Secret fails loudly instead of running with a known key, and so is a process
with no way to verify tokens but the shared HS256 secret: HS256 is for local runs and tests only, so
elsewhere an OpenID provider (``AUTH_OIDC_ISSUER``) or an issuer's public key (RS256) is required.
"""

from __future__ import annotations

import os
from typing import ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_JWT_SECRET = "local-development-secret-change-me-0123456789"
PLACEHOLDER_SECRETS = frozenset({LOCAL_JWT_SECRET, "changeme", "change-me", "secret", ""})

LOCAL_ENVIRONMENTS = frozenset({"local", "test"})
"""Where HS256 tokens signed with ``AUTH_JWT_SECRET`` (``c360 token``, the tests) are accepted."""

SERVICE_PORTS: dict[str, int] = {"customer": 8001, "ticketing": 8002, "campaigns": 8003, "analytics": 8004}


class PlatformSettings(BaseSettings):
    """Settings every process shares."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    environment: Literal["local", "test", "dev", "staging", "prod"] = "local"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = Field(
        default="", description="Prepended to every topic name; tests use it to isolate themselves."
    )
    kafka_topic_partitions: int = Field(default=6, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_min_insync_replicas: int = Field(default=1, ge=1)
    kafka_dlq_retention_ms: int = Field(default=14 * 24 * 3600 * 1000, ge=60_000)
    faust_datadir: str = Field(
        default="",
        description="Where Faust workers keep their local state (default: a folder in the system temp dir).",
    )

    customer_api_url: str = "http://127.0.0.1:8001"
    ticketing_api_url: str = "http://127.0.0.1:8002"
    campaigns_api_url: str = "http://127.0.0.1:8003"
    analytics_api_url: str = "http://127.0.0.1:8004"
    service_token: str | None = Field(
        default=None, description="Bearer token for service-to-service calls; minted from the HS256 secret if unset."
    )

    service_oidc_client_id: str = Field(
        default="",
        description="This service's client at the OpenID provider; set (with the secret) to call other services "
        "with a client-credentials token instead of SERVICE_TOKEN or a minted one.",
    )
    service_oidc_client_secret: str = Field(default="", description="The client secret (a Kubernetes Secret).")
    service_oidc_scope: str = Field(
        default="",
        description="Scope of the client-credentials request (Entra ID: api://<app>/.default); "
        "empty: RFC 8707 resource=AUTH_OIDC_AUDIENCE (Keycloak, the local provider).",
    )

    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_user: str = "c360"
    postgres_password: str = "c360"

    auth_jwt_secret: str = LOCAL_JWT_SECRET
    auth_jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    auth_jwt_public_key: str | None = None
    auth_jwt_issuer: str = "customer360"
    auth_oidc_issuer: str = Field(
        default="",
        description="OpenID Connect issuer URL (Keycloak realm, Entra tenant v2.0, the local provider); "
        "empty: no provider tokens are accepted.",
    )
    auth_oidc_audience: str = Field(default="urn:customer360:api", description="The `aud` our APIs require.")
    auth_oidc_console_client_id: str = Field(
        default="c360-console", description="The console's public client (authorization code + PKCE)."
    )
    auth_oidc_algorithms: str = Field(default="RS256,ES256", description="Accepted provider signature algorithms.")
    auth_oidc_roles_claim: str = Field(
        default="groups", description="Claim (dotted path) holding the person's groups or roles."
    )
    auth_oidc_role_mapping: str = Field(
        default="", description="JSON file mapping roles to scopes; empty: shared/web/roles.json."
    )
    auth_oidc_jwks_min_refresh_seconds: float = Field(
        default=10.0, ge=0.0, description="At most one JWKS fetch per interval for unknown key ids."
    )
    auth_oidc_jwks_cache_seconds: float = Field(default=3600.0, ge=1.0, description="JWKS refresh period.")
    auth_token_cache_seconds: float = Field(
        default=30.0, ge=0.0,
        description="How long a verified bearer token is remembered (never past its exp); 0 verifies every request.",
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> PlatformSettings:
        if self.environment not in LOCAL_ENVIRONMENTS:
            if not self.auth_oidc_issuer and self.auth_jwt_algorithm != "RS256":
                raise ValueError(
                    f"ENVIRONMENT={self.environment} refuses HS256 tokens (signed with AUTH_JWT_SECRET; local/test "
                    "only), so nothing could sign in: set AUTH_OIDC_ISSUER to your OpenID Connect provider's "
                    "issuer URL, or AUTH_JWT_ALGORITHM=RS256 with AUTH_JWT_PUBLIC_KEY (your issuer's PEM public key)"
                )
            if self.auth_jwt_algorithm == "HS256" and self.auth_jwt_secret in PLACEHOLDER_SECRETS:
                raise ValueError("AUTH_JWT_SECRET must be set to a real secret outside local/test")
            if self.auth_jwt_algorithm == "HS256" and len(self.auth_jwt_secret) < 32:
                raise ValueError("AUTH_JWT_SECRET must be at least 32 characters")
            if not self.service_oidc_client_id and not self.service_token:
                raise ValueError(
                    f"ENVIRONMENT={self.environment}: services call each other (personal-data keys, export parts, "
                    "the audit trail) with a client-credentials token: set SERVICE_OIDC_CLIENT_ID and "
                    "SERVICE_OIDC_CLIENT_SECRET (or SERVICE_TOKEN, a token your issuer signed with keys:read); a "
                    "token minted with AUTH_JWT_SECRET would be refused by every service"
                )
        if self.service_oidc_client_id and not (self.auth_oidc_issuer and self.service_oidc_client_secret):
            raise ValueError("SERVICE_OIDC_CLIENT_ID needs AUTH_OIDC_ISSUER and SERVICE_OIDC_CLIENT_SECRET")
        if self.auth_oidc_issuer:
            bad = set(self.oidc_algorithms) - {"RS256", "ES256"}
            if bad:
                raise ValueError(f"AUTH_OIDC_ALGORITHMS may only name RS256 and ES256, not {sorted(bad)}")
        if self.auth_jwt_algorithm == "RS256" and not self.auth_jwt_public_key:
            raise ValueError("AUTH_JWT_PUBLIC_KEY is required when AUTH_JWT_ALGORITHM=RS256")
        return self

    @property
    def oidc_algorithms(self) -> tuple[str, ...]:
        """``AUTH_OIDC_ALGORITHMS`` as a tuple."""
        return tuple(a.strip() for a in self.auth_oidc_algorithms.split(",") if a.strip())

    @property
    def hs256_accepted(self) -> bool:
        """Shared-secret (HS256) tokens: in local/test only, whatever else is configured."""
        return self.auth_jwt_algorithm == "HS256" and self.environment in LOCAL_ENVIRONMENTS

    def topic(self, name: str) -> str:
        """The physical topic name for a logical one (``customer.events``)."""
        return f"{self.kafka_topic_prefix}{name}"

    def database_url_for(self, database: str) -> str:
        """A DSN on the configured server for ``database``."""
        return (
            f"postgresql://{self.postgres_user}:{self.postgres_password}"
            f"@{self.postgres_host}:{self.postgres_port}/{database}"
        )


class ServiceSettings(PlatformSettings):
    """Settings of one service; subclasses set ``service_name``.

    ``database_url`` comes from ``<SERVICE>_DATABASE_URL`` when set, else from the ``POSTGRES_*``
    settings and a database named after the service.
    """

    service_name: ClassVar[str] = ""

    database_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 0
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    import_max_body_bytes: int = Field(default=2 * 1024**3, ge=1024)
    """``POST /v1/imports`` only: an NDJSON file streamed to disk, never held in memory (issue 18)."""

    @model_validator(mode="after")
    def _fill_service_defaults(self) -> ServiceSettings:
        name = self.service_name
        if not self.database_url:
            url = os.environ.get(f"{name.upper()}_DATABASE_URL") or self.database_url_for(name)
            object.__setattr__(self, "database_url", url)
        if not self.http_port:
            port = os.environ.get(f"{name.upper()}_HTTP_PORT") or SERVICE_PORTS.get(name, 8000)
            object.__setattr__(self, "http_port", int(port))
        return self
