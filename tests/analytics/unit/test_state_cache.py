"""The projector's state cache stays within its bounds, and a revocation empties it."""

from __future__ import annotations

from services.analytics.application.state_cache import (
    MEMORY_PER_JSON_BYTE,
    CachedState,
    StateCache,
    serialise,
)
from services.analytics.consumers.projector import AnalyticsProjector
from services.analytics.domain.model import empty_state
from services.analytics.domain.rules import AnalyticsRules


def an_entry(customer_id: str, revision: str = "1", padding: int = 0) -> CachedState:
    state = empty_state(customer_id)
    state["merged_ids"] = ["x" * padding] if padding else []
    return CachedState(revision, state, serialise(state))


def test_the_cache_never_holds_more_than_its_byte_budget_and_drops_the_least_recent_first() -> None:
    one = an_entry("probe")
    size = int(sum(len(p) for p in one.parts.values()) * MEMORY_PER_JSON_BYTE)
    cache = StateCache(capacity=1000, max_bytes=size * 10)
    for n in range(50):
        cache.put(f"c{n}", an_entry(f"c{n}"))
        assert cache.bytes <= cache.max_bytes
    assert len(cache) == 10
    assert cache.get("c49") is not None and cache.get("c39") is None
    assert cache.evictions == 40
    assert cache.bytes == sum(cache.get(f"c{n}").size for n in range(40, 50))  # type: ignore[union-attr]


def test_rewriting_a_customer_replaces_its_size_and_makes_it_the_most_recent() -> None:
    cache = StateCache(capacity=2, max_bytes=10**9)
    cache.put("a", an_entry("a"))
    cache.put("b", an_entry("b"))
    cache.put("a", an_entry("a", revision="2", padding=5000))
    assert cache.bytes == cache.get("a").size + cache.get("b").size  # type: ignore[union-attr]
    assert cache.get("a").size > cache.get("b").size + 5000  # type: ignore[union-attr]
    cache.put("c", an_entry("c"))
    assert cache.get("b") is None, "b was the least recently written"
    assert cache.revisions(["a", "b", "c"]) == {"a": "2", "c": "1"}


def test_an_entry_larger_than_the_budget_is_not_kept() -> None:
    cache = StateCache(capacity=10, max_bytes=1000)
    cache.put("huge", an_entry("huge", padding=10_000))
    assert len(cache) == 0 and cache.bytes == 0


def test_dropping_and_clearing_give_the_bytes_back() -> None:
    cache = StateCache()
    for name in ("a", "b", "c"):
        cache.put(name, an_entry(name))
    cache.drop(["b", "missing"])
    assert len(cache) == 2 and cache.bytes == cache.get("a").size + cache.get("c").size  # type: ignore[union-attr]
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0


def test_revoked_partitions_empty_the_projectors_cache() -> None:
    projector = AnalyticsProjector(rules=AnalyticsRules(), store=None)
    projector.cache.put("a", an_entry("a"))
    projector.on_partitions_revoked({object()})
    assert len(projector.cache) == 0 and projector.cache.bytes == 0
