"""Principals of bearer tokens verified moments ago, so a client's next request skips the verification.

Why: a client (the console, an integration, a load balancer's health prober with a token) sends the
same token on request after request, and verifying it again each time was the largest single part of
a ``GET /360``'s CPU after the handler itself (PyJWT's segment checks, the HMAC or RSA signature, the
claims; issue 17's profile). Envoy's ``jwt_authn`` filter caches verified tokens for the same reason.

What keeps it safe:

- an entry is found only by the SHA-256 of the whole token, so only the identical token, byte for
  byte, is answered from it; a token the verifier refused is never stored;
- an entry dies at the token's own ``exp`` (plus the same clock skew the verifier allows), so a
  cached token is never accepted longer than verifying it again would accept it;
- and at ``max_age_seconds`` at the latest, so a key the provider withdrew from its JWKS stops
  admitting its tokens within that time, as it would when the JWKS cache refreshes;
- the cache is bounded (``capacity``); when full, the entries nearest their end go first.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.web.auth import Principal


class VerifiedTokens:
    """A bounded map from token digest to (principal, deadline). ``max_age_seconds=0`` turns it off."""

    def __init__(self, *, max_age_seconds: float = 30.0, capacity: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_age_seconds = max_age_seconds
        self.capacity = capacity
        self.clock = clock
        self._entries: dict[bytes, tuple[Principal, float]] = {}

    def get(self, token: str) -> Principal | None:
        """The principal verified for exactly this token, while its entry lives; else ``None``."""
        if not self._entries:
            return None
        digest = _digest(token)
        found = self._entries.get(digest)
        if found is None:
            return None
        principal, deadline = found
        if self.clock() >= deadline:
            del self._entries[digest]
            return None
        return principal

    def put(self, token: str, principal: Principal, *, expires_at: float, skew_seconds: float) -> None:
        """Remember a token the verifier just accepted, whose ``exp`` claim is ``expires_at``."""
        if self.max_age_seconds <= 0:
            return
        deadline = min(expires_at + skew_seconds, self.clock() + self.max_age_seconds)
        if len(self._entries) >= self.capacity:
            self._make_room()
        self._entries[_digest(token)] = (principal, deadline)

    def __len__(self) -> int:
        return len(self._entries)

    def _make_room(self) -> None:
        now = self.clock()
        live = {digest: entry for digest, entry in self._entries.items() if entry[1] > now}
        if len(live) >= self.capacity:
            ordered = sorted(live.items(), key=lambda item: item[1][1])
            live = dict(ordered[len(live) - self.capacity // 2:])
        self._entries = live


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
