"""Notes and follow-ups decide alone: blank text refused, follow-up states move only forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.customer.domain.notes import FollowUp, Note
from shared.contracts.customer import (
    CustomerNoteWritten,
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpScheduled,
    FollowUpSnoozed,
)
from shared.errors import Conflict, InvalidInput
from shared.ids import new_id

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def _note(text: str = "  Met them at the trade fair  ") -> Note:
    return Note.write(note_id=new_id(), customer_id=new_id(), text=text, author="am.selin", now=NOW)


def _follow_up(note: Note | None = None) -> FollowUp:
    follow_up = FollowUp.schedule(follow_up_id=new_id(), note=note or _note(), owner="am.selin",
                                  due_at=NOW + timedelta(days=30), by="agent.ali", now=NOW)
    follow_up.pull_events()
    return follow_up


def test_a_note_is_trimmed_and_recorded_with_its_author() -> None:
    note = _note()
    [event] = note.pull_events()
    assert isinstance(event, CustomerNoteWritten)
    assert (event.text, event.author, event.written_at) == ("Met them at the trade fair", "am.selin", NOW)


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001, "a\x00b"])
def test_blank_too_long_or_nul_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        _note(text)


def test_a_follow_up_belongs_to_its_note_and_customer_and_starts_open() -> None:
    note = _note()
    follow_up = FollowUp.schedule(follow_up_id=new_id(), note=note, owner=" am.selin ",
                                  due_at=NOW + timedelta(days=1), by="agent.ali", now=NOW)
    [event] = follow_up.pull_events()
    assert isinstance(event, FollowUpScheduled)
    assert (event.customer_id, event.note_id, event.owner, event.scheduled_by) == (
        note.customer_id, note.id, "am.selin", "agent.ali")
    assert follow_up.state == "open" and follow_up.is_pending


def test_a_naive_due_moment_or_blank_owner_is_refused() -> None:
    with pytest.raises(InvalidInput):
        FollowUp.schedule(follow_up_id=new_id(), note=_note(), owner="x", due_at=datetime(2027, 1, 1),
                          by="a", now=NOW)
    with pytest.raises(InvalidInput):
        FollowUp.schedule(follow_up_id=new_id(), note=_note(), owner="  ", due_at=NOW, by="a", now=NOW)


def test_snoozing_moves_the_due_moment_later_and_keeps_it_pending() -> None:
    follow_up = _follow_up()
    before = follow_up.due_at
    follow_up.snooze(until=NOW + timedelta(days=60), by="am.selin", now=NOW)
    [event] = follow_up.pull_events()
    assert isinstance(event, FollowUpSnoozed)
    assert (event.previous_due_at, event.due_at) == (before, NOW + timedelta(days=60))
    assert follow_up.state == "snoozed" and follow_up.is_pending and follow_up.version == 2


@pytest.mark.parametrize("until", [NOW, NOW - timedelta(minutes=1)])
def test_snoozing_to_now_or_the_past_is_refused(until: datetime) -> None:
    follow_up = _follow_up()
    with pytest.raises(InvalidInput):
        follow_up.snooze(until=until, by="a", now=NOW)
    assert not follow_up.pending


def test_completing_twice_records_once_and_a_done_follow_up_cannot_be_snoozed_or_cancelled() -> None:
    follow_up = _follow_up()
    follow_up.complete(by="am.selin", now=NOW)
    follow_up.complete(by="am.selin", now=NOW)
    [event] = follow_up.pull_events()
    assert isinstance(event, FollowUpCompleted) and follow_up.state == "done"
    with pytest.raises(Conflict):
        follow_up.snooze(until=NOW + timedelta(days=1), by="a", now=NOW)
    with pytest.raises(Conflict):
        follow_up.cancel(by="a", now=NOW)


def test_a_cancelled_follow_up_cannot_be_completed_and_rehydrates_as_cancelled() -> None:
    follow_up = _follow_up()
    follow_up.snooze(until=NOW + timedelta(days=2), by="a", now=NOW)
    follow_up.cancel(by="a", now=NOW)
    follow_up.cancel(by="a", now=NOW)
    events = follow_up.pull_events()
    assert isinstance(events[-1], FollowUpCancelled) and len(events) == 2
    with pytest.raises(Conflict):
        follow_up.complete(by="a", now=NOW)
    scheduled = FollowUp.schedule(follow_up_id=follow_up.id, note=_note(), owner="o", due_at=NOW, by="a", now=NOW)
    again = FollowUp.rehydrate([*scheduled.pull_events(), *events])
    assert (again.state, again.version, again.due_at) == ("cancelled", 3, NOW + timedelta(days=2))
