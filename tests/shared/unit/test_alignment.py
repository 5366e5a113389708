"""The time aligner: a catch-up's records leave in event-time order across partitions, live ones at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.consuming.alignment import TimeAligner, event_time
from shared.consuming.streams import ALIGNMENT_VARIABLE, default_alignment
from shared.events.envelope import format_time

START = datetime(2019, 1, 1, tzinfo=UTC)


def at(day: int) -> bytes:
    return format_time(START + timedelta(days=day)).encode()


def records(partition: str, days: list[int]) -> list[tuple[bytes | None, str]]:
    return [(at(day), f"{partition}@{day}") for day in days]


def test_the_ce_time_header_is_the_time_and_a_record_without_one_has_none() -> None:
    assert event_time([("ce_type", b"OrderPlaced"), ("ce_time", at(3))]) == at(3)
    assert event_time([("ce_type", b"OrderPlaced")]) is None
    assert event_time(None) is None


def test_the_header_bytes_order_as_the_moments_do() -> None:
    moments = [START + timedelta(microseconds=n * 999_999_937) for n in range(0, 5000, 37)]
    assert sorted(format_time(m).encode() for m in reversed(moments)) == [format_time(m).encode() for m in moments]


def test_nothing_behind_lets_everything_go_at_once() -> None:
    aligner: TimeAligner[str, str] = TimeAligner(limit=100)
    aligner.add("a", records("a", [5, 9]))
    aligner.add("b", records("b", [1]))
    assert aligner.release(behind=[]) == {"a": ["a@5", "a@9"], "b": ["b@1"]}
    assert aligner.held == 0


def test_records_wait_until_no_partition_behind_can_undercut_them() -> None:
    aligner: TimeAligner[str, str] = TimeAligner(limit=100)
    aligner.add("customers", records("customers", [1, 4, 8, 12]))
    aligner.add("tickets", records("tickets", [2, 3, 5]))
    # both still have more on the broker: tickets has reached day 5, so nothing later than day 5 goes
    assert aligner.release(behind=["customers", "tickets"]) == {
        "customers": ["customers@1", "customers@4"], "tickets": ["tickets@2", "tickets@3", "tickets@5"]}
    assert aligner.held == 2
    aligner.add("tickets", records("tickets", [9, 20]))
    assert aligner.release(behind=["customers", "tickets"]) == {"customers": ["customers@8", "customers@12"],
                                                                 "tickets": ["tickets@9"]}
    # tickets is read to its end: only customers, at day 12, still constrains
    assert aligner.release(behind=["customers"]) == {}
    assert aligner.release(behind=[]) == {"tickets": ["tickets@20"]}


def test_a_partition_behind_that_was_never_fetched_holds_everything_back() -> None:
    aligner: TimeAligner[str, str] = TimeAligner(limit=100)
    aligner.add("customers", records("customers", [1, 2]))
    assert aligner.release(behind=["customers", "tickets"]) == {}
    assert aligner.held == 2


def test_a_fetch_that_brought_nothing_or_too_much_held_releases_everything() -> None:
    aligner: TimeAligner[str, str] = TimeAligner(limit=3)
    aligner.add("customers", records("customers", [1, 2]))
    assert aligner.release(behind=["customers", "tickets"], force=True) == {"customers": ["customers@1", "customers@2"]}
    aligner.add("customers", records("customers", [3, 4, 5, 6]))
    assert aligner.release(behind=["customers", "tickets"]) == {
        "customers": ["customers@3", "customers@4", "customers@5", "customers@6"]}


def test_a_record_without_a_time_is_never_held_back_by_itself_and_holds_nobody_back() -> None:
    aligner: TimeAligner[str, str] = TimeAligner(limit=100)
    aligner.add("foreign", [(None, "x"), (None, "y")])
    aligner.add("customers", records("customers", [3]))
    aligner.add("tickets", records("tickets", [1]))
    assert aligner.release(behind=["foreign", "customers", "tickets"]) == {"foreign": ["x", "y"],
                                                                          "tickets": ["tickets@1"]}


def test_dropped_partitions_are_forgotten_and_constrain_again_until_fetched() -> None:
    aligner: TimeAligner[str, str] = TimeAligner(limit=100)
    aligner.add("a", records("a", [1, 2]))
    aligner.add("b", records("b", [1]))
    aligner.keep_only({"b"})
    assert aligner.held == 1
    assert aligner.release(behind=["a", "b"]) == {}  # a was revoked or sought back: it will come again
    aligner.clear()
    assert aligner.held == 0
    assert aligner.release(behind=[]) == {}


@given(st.dictionaries(st.sampled_from("abcd"), st.lists(st.integers(0, 60), min_size=1, max_size=30), min_size=1),
       st.integers(1, 9), st.integers(4, 200))
def test_a_catch_up_is_handed_over_whole_and_no_release_is_undercut_by_a_later_one(
    partitions: dict[str, list[int]], fetch_size: int, limit: int
) -> None:
    """Partitions each in time order, fetched a few records at a time, in turn: every record comes out
    exactly once and in its partition's order, and every record of a later release is at least as late
    as every record of an earlier one (unless the limit forced a release). Order inside one release
    does not matter: a projection sorts a batch by time before it folds it."""
    timelines = {p: sorted(days) for p, days in partitions.items()}
    fetched_to = dict.fromkeys(timelines, 0)
    aligner: TimeAligner[str, tuple[str, int, int]] = TimeAligner(limit=limit)
    releases: list[list[tuple[str, int, int]]] = []
    forced = False
    turn = 0
    while any(fetched_to[p] < len(t) for p, t in timelines.items()) or aligner.held:
        partition = sorted(timelines)[turn % len(timelines)]
        turn += 1
        start = fetched_to[partition]
        chunk = timelines[partition][start:start + fetch_size]
        fetched_to[partition] = start + len(chunk)
        aligner.add(partition, [(at(day), (partition, start + i, day)) for i, day in enumerate(chunk)])
        behind = [p for p, t in timelines.items() if fetched_to[p] < len(t)]
        forced = forced or (bool(behind) and aligner.held > limit)
        released = [record for some in aligner.release(behind).values() for record in some]
        if released:
            releases.append(released)
    out = [record for release in releases for record in release]
    assert sorted(out) == sorted((p, i, day) for p, t in timelines.items() for i, day in enumerate(t))
    for partition in timelines:
        offsets = [i for p, i, _ in out if p == partition]
        assert offsets == sorted(offsets)
    if not forced:
        for k, release in enumerate(releases[:-1]):
            latest = max(day for _, _, day in release)
            assert all(day >= latest for later in releases[k + 1:] for _, _, day in later)


def test_the_environment_switches_the_alignment_of_every_worker_off_and_refuses_anything_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ALIGNMENT_VARIABLE, raising=False)
    assert default_alignment() is True
    monkeypatch.setenv(ALIGNMENT_VARIABLE, "false")
    assert default_alignment() is False
    monkeypatch.setenv(ALIGNMENT_VARIABLE, "TRUE")
    assert default_alignment() is True
    monkeypatch.setenv(ALIGNMENT_VARIABLE, "off")
    with pytest.raises(ValueError, match=ALIGNMENT_VARIABLE):
        default_alignment()
