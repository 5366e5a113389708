"""The four APIs as real processes (no relays or workers: these tests only talk HTTP) for security tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.testing.oidc import LocalOidcProvider
from shared.testing.platform import RunningPlatform, start_platform, stop_platform
from shared.testing.plugin import DatabaseFactory

JWT_SECRET = "chaos-security-secret-8f3a1c9e5b7d2f40a6c8e1b3"
"""A distinctive signing secret, so a test can prove it never appears in a log line."""


@pytest.fixture(scope="session")
def api_platform(database_factory: DatabaseFactory, kafka_bootstrap: str,
                 oidc_provider: LocalOidcProvider) -> Iterator[RunningPlatform]:
    """The APIs accept both the local HS256 tokens and the real OpenID provider's (people in groups)."""
    running = start_platform(database_factory=database_factory, kafka_bootstrap=kafka_bootstrap, name="security",
                             workers={}, relays=False,
                             extra_env={"AUTH_JWT_SECRET": JWT_SECRET, "AUTH_OIDC_ISSUER": oidc_provider.issuer,
                                        # A rotated key is looked up at most 1 s after the last fetch.
                                        "AUTH_OIDC_JWKS_MIN_REFRESH_SECONDS": "1"})
    try:
        yield running
    finally:
        stop_platform(running, database_factory)
