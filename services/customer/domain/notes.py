"""Notes on a customer and the follow-ups they ask for (seed 002: the account manager's daily work).

Pure Python: no I/O. A note is what someone who serves the customer wants remembered ("met them at
the trade fair; call in January about the new line"); its text is personal data, so the contract
seals it under the customer's key. A note may ask for a follow-up: an owner (a staff subject) is to
act by a due moment. A follow-up is its own aggregate because it lives on after the note is written:
it is snoozed to a later moment, done, or cancelled, each by someone at some moment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

from shared.contracts.customer import (
    CustomerNoteWritten,
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpScheduled,
    FollowUpSnoozed,
    FollowUpState,
)
from shared.errors import Conflict, InvalidInput
from shared.store.aggregate import Aggregate

NOTE_MAX_LENGTH: Final = 4000
"""A note is a few sentences, not a document."""

PENDING: Final[tuple[FollowUpState, ...]] = ("open", "snoozed")
"""States in which a follow-up still asks someone to act."""


def _text(value: str, field: str, max_length: int) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(f"{field} must not be blank", field=field)
    if len(text) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters", field=field)
    if "\x00" in text:
        raise InvalidInput(f"{field} must not contain NUL", field=field)
    return text


class Note(Aggregate):
    """A note written on a customer; notes are never edited (a correction is another note)."""

    id: UUID
    customer_id: UUID
    text: str | None
    author: str
    written_at: datetime

    @classmethod
    def write(cls, *, note_id: UUID, customer_id: UUID, text: str, author: str, now: datetime) -> Note:
        """A new note; blank text is refused (422)."""
        note = cls()
        note._record(
            CustomerNoteWritten(
                customer_id=customer_id,
                note_id=note_id,
                text=_text(text, "text", NOTE_MAX_LENGTH),
                author=author,
                written_at=now,
            )
        )
        return note

    def _on_CustomerNoteWritten(self, e: CustomerNoteWritten) -> None:  # noqa: N802
        self.id, self.customer_id, self.text = e.note_id, e.customer_id, e.text
        self.author, self.written_at = e.author, e.written_at


class FollowUp(Aggregate):
    """Someone is to act on a customer by a due moment: open → (snoozed →)* done | cancelled.

    Completing a done follow-up or cancelling a cancelled one records nothing (a retried click is
    not a conflict); any other change of a finished follow-up is a 409.
    """

    id: UUID
    customer_id: UUID
    note_id: UUID
    owner: str
    state: FollowUpState
    due_at: datetime

    def _initial_state(self) -> None:
        self.state = "open"

    @classmethod
    def schedule(
        cls, *, follow_up_id: UUID, note: Note, owner: str, due_at: datetime, by: str, now: datetime
    ) -> FollowUp:
        """A follow-up of ``note``, owned by ``owner``; a due moment without an offset is refused."""
        if due_at.tzinfo is None:
            raise InvalidInput("due_at must carry a UTC offset", field="due_at")
        follow_up = cls()
        follow_up._record(
            FollowUpScheduled(
                customer_id=note.customer_id,
                follow_up_id=follow_up_id,
                note_id=note.id,
                owner=_text(owner, "owner", 200),
                due_at=due_at,
                scheduled_by=by,
                scheduled_at=now,
            )
        )
        return follow_up

    @property
    def is_pending(self) -> bool:
        return self.state in PENDING

    def _ensure_pending(self, action: str) -> None:
        if not self.is_pending:
            raise Conflict(f"cannot {action} a follow-up that is {self.state}", current_status=self.state)

    def _ends(self, final: str, action: str) -> bool:
        """Whether ``action`` still has to record its ending: ending a follow-up twice changes nothing."""
        if self.state == final:
            return False
        self._ensure_pending(action)
        return True

    def complete(self, *, by: str, now: datetime) -> None:
        if self._ends("done", "complete"):
            self._record(FollowUpCompleted(customer_id=self.customer_id, follow_up_id=self.id, owner=self.owner,
                                           completed_by=by, completed_at=now))

    def snooze(self, *, until: datetime, by: str, now: datetime) -> None:
        """Put the follow-up off to ``until``, which must be later than now (422 otherwise)."""
        self._ensure_pending("snooze")
        if until.tzinfo is None:
            raise InvalidInput("until must carry a UTC offset", field="until")
        if until <= now:
            raise InvalidInput("until must be later than now", field="until")
        self._record(
            FollowUpSnoozed(
                customer_id=self.customer_id, follow_up_id=self.id, owner=self.owner, due_at=until,
                previous_due_at=self.due_at, snoozed_by=by, snoozed_at=now,
            )
        )

    def cancel(self, *, by: str, now: datetime) -> None:
        if self._ends("cancelled", "cancel"):
            self._record(FollowUpCancelled(customer_id=self.customer_id, follow_up_id=self.id, owner=self.owner,
                                           cancelled_by=by, cancelled_at=now))

    def _on_FollowUpScheduled(self, e: FollowUpScheduled) -> None:  # noqa: N802
        self.id, self.customer_id, self.note_id = e.follow_up_id, e.customer_id, e.note_id
        self.owner, self.due_at, self.state = e.owner, e.due_at, "open"

    def _on_FollowUpCompleted(self, e: FollowUpCompleted) -> None:  # noqa: N802
        self.state = "done"

    def _on_FollowUpSnoozed(self, e: FollowUpSnoozed) -> None:  # noqa: N802
        self.state, self.due_at = "snoozed", e.due_at

    def _on_FollowUpCancelled(self, e: FollowUpCancelled) -> None:  # noqa: N802
        self.state = "cancelled"
