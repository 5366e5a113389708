"""Note and follow-up command handlers on in-memory ports: events, outcome, and what they refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from services.customer.application import handlers, notes
from shared.contracts.customer import (
    CustomerNoteWritten,
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpScheduled,
    FollowUpSnoozed,
)
from shared.errors import Conflict, Gone, InvalidInput, NotFound, PreconditionFailed
from shared.ids import new_id
from shared.store.outcomes import Created, Updated
from shared.testing.fakes import FakeWork
from tests.customer.fakes import InMemoryReadModel

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
DUE = NOW + timedelta(days=30)
Work = FakeWork[InMemoryReadModel]


@pytest.fixture
def work() -> Work:
    return FakeWork(fake_rows=InMemoryReadModel())


async def given_customer(work: Work, email: str = "ayse@example.com") -> UUID:
    created = await handlers.register_customer(work, now=NOW, name="Ayşe Yilmaz", email=email)
    work.appended.clear()
    return UUID(created.resource_id)


async def given_follow_up(work: Work, customer_id: UUID) -> UUID:
    written = await notes.write_note(work, customer_id=customer_id, text="Call about the new line",
                                     author="am.selin", now=NOW, follow_up_due_at=DUE)
    work.appended.clear()
    return UUID(written.resource["follow_up"]["id"])


async def test_write_note_without_follow_up(work: Work) -> None:
    customer_id = await given_customer(work)
    outcome = await notes.write_note(work, customer_id=customer_id, text="  Met them at the fair ",
                                     author="am.selin", now=NOW)
    [written] = work.events()
    assert isinstance(written, CustomerNoteWritten)
    assert (written.text, written.author, written.customer_id) == ("Met them at the fair", "am.selin", customer_id)
    assert isinstance(outcome, Created)
    assert (outcome.resource_id, outcome.version) == (str(written.note_id), None)
    assert (outcome.resource["text"], outcome.resource["follow_up"]) == ("Met them at the fair", None)
    assert work.appended[0].subject == str(customer_id)


async def test_write_note_with_a_follow_up_owned_by_the_writer(work: Work) -> None:
    customer_id = await given_customer(work)
    outcome = await notes.write_note(work, customer_id=customer_id, text="Call in January", author="am.selin",
                                     now=NOW, follow_up_due_at=DUE)
    note_written, scheduled = work.events()
    assert isinstance(note_written, CustomerNoteWritten)
    assert isinstance(scheduled, FollowUpScheduled)
    assert (scheduled.note_id, scheduled.owner, scheduled.due_at) == (note_written.note_id, "am.selin", DUE)
    assert outcome.resource["follow_up"]["id"] == str(scheduled.follow_up_id)
    assert outcome.resource["follow_up"]["state"] == "open"


async def test_notes_on_unknown_merged_or_erased_customers_are_refused(work: Work) -> None:
    with pytest.raises(NotFound):
        await notes.write_note(work, customer_id=new_id(), text="x", author="a", now=NOW)
    survivor = await given_customer(work, "ayse@example.com")
    duplicate = await given_customer(work, "ayse.y@example.com")
    await handlers.merge_customers(work, survivor_id=survivor, duplicate_id=duplicate, reason="same", by=None,
                                   now=NOW)
    await handlers.erase_customer(work, customer_id=survivor, by="dpo", now=NOW)
    work.appended.clear()
    with pytest.raises(Gone):  # erased with its survivor
        await notes.write_note(work, customer_id=duplicate, text="x", author="a", now=NOW)
    with pytest.raises(Gone):
        await notes.write_note(work, customer_id=survivor, text="x", author="a", now=NOW)
    assert work.events() == []


async def test_a_note_on_a_merged_away_customer_is_a_conflict(work: Work) -> None:
    survivor = await given_customer(work, "ayse@example.com")
    duplicate = await given_customer(work, "ayse.y@example.com")
    await handlers.merge_customers(work, survivor_id=survivor, duplicate_id=duplicate, reason="same", by=None,
                                   now=NOW)
    with pytest.raises(Conflict):
        await notes.write_note(work, customer_id=duplicate, text="x", author="a", now=NOW)


async def test_complete_a_follow_up_then_again_changes_nothing(work: Work) -> None:
    follow_up_id = await given_follow_up(work, await given_customer(work))
    with pytest.raises(PreconditionFailed):
        await notes.act_on_follow_up(work, follow_up_id=follow_up_id, action="complete", by="am", now=NOW,
                                     expected_version=7)
    done = await notes.act_on_follow_up(work, follow_up_id=follow_up_id, action="complete", by="am", now=NOW,
                                        expected_version=1)
    again = await notes.act_on_follow_up(work, follow_up_id=follow_up_id, action="complete", by="am", now=NOW)
    [completed] = work.events()
    assert isinstance(completed, FollowUpCompleted)
    assert completed.completed_by == "am"
    assert isinstance(done, Updated)
    assert (done.version, done.resource["state"], again.version) == (2, "done", 2)
    assert done.resource["note_text"] == "Call about the new line"


async def test_snooze_needs_a_later_until(work: Work) -> None:
    follow_up_id = await given_follow_up(work, await given_customer(work))
    with pytest.raises(InvalidInput):
        await notes.act_on_follow_up(work, follow_up_id=follow_up_id, action="snooze", by="am", now=NOW)
    later = DUE + timedelta(days=7)
    outcome = await notes.act_on_follow_up(work, follow_up_id=follow_up_id, action="snooze", until=later, by="am",
                                           now=NOW)
    [snoozed] = work.events()
    assert isinstance(snoozed, FollowUpSnoozed)
    assert (snoozed.due_at, snoozed.previous_due_at) == (later, DUE)
    assert (outcome.version, outcome.resource["state"], outcome.resource["due_at"]) == (2, "snoozed", later)


async def test_cancel_then_complete_is_a_conflict(work: Work) -> None:
    follow_up_id = await given_follow_up(work, await given_customer(work))
    outcome = await notes.act_on_follow_up(work, follow_up_id=follow_up_id, action="cancel", by="am", now=NOW)
    assert [type(e) for e in work.events()] == [FollowUpCancelled]
    assert outcome.resource["state"] == "cancelled"
    with pytest.raises(Conflict):
        await notes.act_on_follow_up(work, follow_up_id=follow_up_id, action="complete", by="am", now=NOW)


async def test_follow_ups_unknown_or_of_an_erased_customer_are_refused(work: Work) -> None:
    with pytest.raises(NotFound):
        await notes.act_on_follow_up(work, follow_up_id=new_id(), action="complete", by="am", now=NOW)
    customer_id = await given_customer(work)
    follow_up_id = await given_follow_up(work, customer_id)
    await handlers.erase_customer(work, customer_id=customer_id, by="dpo", now=NOW)
    assert work.rows.notes == {}
    work.appended.clear()
    with pytest.raises(Gone):
        await notes.act_on_follow_up(work, follow_up_id=follow_up_id, action="cancel", by="am", now=NOW)
    assert work.events() == []
