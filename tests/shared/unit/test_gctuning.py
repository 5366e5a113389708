"""GC tuning for long-running processes: start-up frozen, young collections rarer, pauses measured."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.ops.gctuning import GEN0_THRESHOLD, GcPauses, collections_after_the_batch, tune_for_long_running_process


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tuning_freezes_what_survived_start_up_and_raises_the_young_threshold(
    restored_gc: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GC_TUNING", raising=False)
    gc.unfreeze()
    assert tune_for_long_running_process() is True
    assert gc.get_freeze_count() > 1000  # modules, classes, functions of the running process
    assert gc.get_threshold()[0] == GEN0_THRESHOLD


def test_gc_tuning_off_keeps_the_interpreter_defaults(restored_gc: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GC_TUNING", "off")
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    assert tune_for_long_running_process() is False
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == (700, 10, 10)


def test_pauses_are_counted_per_collection_with_the_longest_kept() -> None:
    with GcPauses() as pauses:
        gc.collect()
        gc.collect(0)
    assert pauses.collections == 2
    assert pauses.by_generation == {2: 1, 0: 1}
    assert 0 < pauses.longest_ms <= pauses.total_ms
    gc.collect()
    assert pauses.collections == 2  # uninstalled on exit


def _young_garbage_collected_while(body: object) -> int:
    """Young collections that ran while ``body()`` allocated enough to trigger several of them."""
    with GcPauses() as pauses:
        assert callable(body)
        body()
    return pauses.by_generation.get(0, 0)


def _allocate_a_batch() -> None:
    held = [{"n": n} for n in range(GEN0_THRESHOLD * 3)]  # alive until the end, like a batch's rows
    assert len(held) == GEN0_THRESHOLD * 3


def test_a_batch_holds_collections_until_it_ends_in_a_tuned_process(restored_gc: None) -> None:
    gc.set_threshold(GEN0_THRESHOLD, 20, 20)
    assert _young_garbage_collected_while(_allocate_a_batch) >= 2  # mid-batch collections, without a hold

    def held() -> None:
        with collections_after_the_batch():
            assert not gc.isenabled()
            with collections_after_the_batch():  # a nested or concurrent batch shares the hold
                _allocate_a_batch()
            assert not gc.isenabled()
        assert gc.isenabled()

    assert _young_garbage_collected_while(held) == 0  # its garbage was freed before anything collected


def test_a_batch_changes_nothing_untuned_or_with_collections_off(restored_gc: None) -> None:
    gc.set_threshold(700, 10, 10)
    with collections_after_the_batch():
        assert gc.isenabled()
    gc.set_threshold(GEN0_THRESHOLD, 20, 20)
    gc.disable()
    try:
        with collections_after_the_batch():
            assert not gc.isenabled()
        assert not gc.isenabled()  # a process that turned collections off keeps them off
    finally:
        gc.enable()
