"""``VerifiedTokens``: a verified token is answered from memory, never longer than verifying it would be."""

from __future__ import annotations

from typing import Any

import pytest

from shared.settings import PlatformSettings
from shared.web.auth import CLOCK_SKEW_SECONDS, InvalidToken, Principal, authenticate, mint_token
from shared.web.token_cache import VerifiedTokens

NOW = 1_800_000_000.0
READER = Principal(subject="ops", scopes=frozenset({"analytics:read"}))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class State:
    def __init__(self, settings: PlatformSettings, verified_tokens: VerifiedTokens | None) -> None:
        self.settings = settings
        self.verified_tokens = verified_tokens


def test_an_entry_lives_until_the_token_expires_plus_the_verifiers_skew() -> None:
    clock = Clock()
    cache = VerifiedTokens(max_age_seconds=3600, clock=clock)
    cache.put("token-a", READER, expires_at=NOW + 10, skew_seconds=CLOCK_SKEW_SECONDS)
    clock.now = NOW + 10 + CLOCK_SKEW_SECONDS - 0.5
    assert cache.get("token-a") is READER
    clock.now = NOW + 10 + CLOCK_SKEW_SECONDS
    assert cache.get("token-a") is None
    assert len(cache) == 0


def test_an_entry_lives_at_most_max_age_whatever_the_tokens_exp() -> None:
    clock = Clock()
    cache = VerifiedTokens(max_age_seconds=30, clock=clock)
    cache.put("token-a", READER, expires_at=NOW + 3600, skew_seconds=CLOCK_SKEW_SECONDS)
    clock.now = NOW + 29.9
    assert cache.get("token-a") is READER
    clock.now = NOW + 30
    assert cache.get("token-a") is None


def test_only_the_identical_token_is_answered() -> None:
    cache = VerifiedTokens(clock=Clock())
    cache.put("header.body.signature", READER, expires_at=NOW + 60, skew_seconds=0)
    assert cache.get("header.body.signaturf") is None
    assert cache.get("header.body.signature ") is None
    assert cache.get("header.body.signature") is READER


def test_max_age_zero_remembers_nothing() -> None:
    cache = VerifiedTokens(max_age_seconds=0, clock=Clock())
    cache.put("token-a", READER, expires_at=NOW + 60, skew_seconds=0)
    assert cache.get("token-a") is None


def test_a_full_cache_drops_the_dead_then_the_entries_nearest_their_end() -> None:
    clock = Clock()
    cache = VerifiedTokens(max_age_seconds=3600, capacity=10, clock=clock)
    for n in range(10):
        cache.put(f"token-{n}", READER, expires_at=NOW + 100 + n, skew_seconds=0)
    cache.put("token-new", READER, expires_at=NOW + 1000, skew_seconds=0)
    assert len(cache) <= 10
    assert cache.get("token-new") is READER
    assert cache.get("token-9") is READER  # the furthest from its end among the old ones stays
    assert cache.get("token-0") is None
    clock.now = NOW + 105  # tokens 0-5 are dead: room is made from them first, nothing live is dropped
    live = len(cache)
    cache.put("token-later", READER, expires_at=NOW + 2000, skew_seconds=0)
    assert cache.get("token-later") is READER
    assert cache.get("token-9") is READER
    assert len(cache) <= live + 1


async def test_authenticate_verifies_a_token_once_then_answers_it_from_the_cache() -> None:
    settings = PlatformSettings(environment="test")
    token = mint_token(settings, "ops", ["analytics:read"])
    state = State(settings, VerifiedTokens())
    first = await authenticate(state, token)
    assert first.scopes == {"analytics:read"} and first.expires_at is not None
    # Proof that the second answer comes from memory: verification would now refuse the token.
    state.settings = PlatformSettings(environment="test", auth_jwt_secret="another-secret-of-at-least-32-chars!!")
    assert await authenticate(state, token) is first
    uncached = State(state.settings, None)
    with pytest.raises(InvalidToken):
        await authenticate(uncached, token)


@pytest.mark.parametrize("bad", ["not-a-jwt", "a.b.c"])
async def test_a_refused_token_is_never_remembered(bad: str) -> None:
    state = State(PlatformSettings(environment="test"), VerifiedTokens())
    for _ in range(2):
        with pytest.raises(InvalidToken):
            await authenticate(state, bad)
    assert len(state.verified_tokens or ()) == 0


async def test_a_token_signed_with_another_key_is_refused_even_after_a_good_one_was_cached() -> None:
    settings = PlatformSettings(environment="test")
    good = mint_token(settings, "ops", ["analytics:read"])
    forged = mint_token(PlatformSettings(environment="test", auth_jwt_secret="x" * 40), "ops", ["admin"])
    state: Any = State(settings, VerifiedTokens())
    await authenticate(state, good)
    with pytest.raises(InvalidToken):
        await authenticate(state, forged)
