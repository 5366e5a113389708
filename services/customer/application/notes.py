"""Use cases of notes and follow-ups: write a note (with a follow-up), act on a follow-up.

Commands run in one unit of work like every customer command: the customer's row is locked first
(so an erasure or a merge cannot slip in between the check and the append), events are appended and
the read models written in the same transaction, through the ``Work[ReadModel]`` port. Their reads
for ``GET`` live in ``application.queries``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from services.customer.application.handlers import CustomerWork, _load_customer
from services.customer.domain.notes import FollowUp, Note
from shared.errors import Gone, InvalidInput, NotFound
from shared.ids import new_id
from shared.store.outcomes import Created, Updated
from shared.store.versions import ensure_version_matches

FollowUpAction = Literal["complete", "snooze", "cancel"]


async def write_note(
    uow: CustomerWork,
    *,
    customer_id: UUID,
    text: str,
    author: str,
    now: datetime,
    follow_up_owner: str | None = None,
    follow_up_due_at: datetime | None = None,
) -> Created:
    """Write a note on an active customer (erased 410, merged away 409), with a follow-up when asked."""
    customer = await _load_customer(uow, customer_id)
    customer.ensure_exists()
    customer.ensure_active("get notes")
    note = Note.write(note_id=new_id(), customer_id=customer_id, text=text, author=author, now=now)
    follow_up = None
    if follow_up_due_at is not None:
        follow_up = FollowUp.schedule(
            follow_up_id=new_id(), note=note, owner=follow_up_owner or author, due_at=follow_up_due_at,
            by=author, now=now,
        )
    await uow.append(
        stream_id=str(note.id), stream_type="customer-note", expected_version=0, events=note.pull_events(),
        subject=str(customer_id),
    )
    await uow.rows.insert_note(note)
    if follow_up is not None:
        await uow.append(
            stream_id=str(follow_up.id), stream_type="follow-up", expected_version=0,
            events=follow_up.pull_events(), subject=str(customer_id),
        )
        await uow.rows.save_follow_up(follow_up, by=author, now=now)
    body = await uow.rows.note(note.id)
    assert body is not None
    return Created(body, str(note.id))


async def act_on_follow_up(
    uow: CustomerWork,
    *,
    follow_up_id: UUID,
    action: FollowUpAction,
    by: str,
    now: datetime,
    until: datetime | None = None,
    expected_version: int | None = None,
) -> Updated:
    """Complete, snooze or cancel a follow-up (``If-Match`` checked first); 410 once its customer is erased."""
    customer_id = await uow.rows.follow_up_customer(follow_up_id)
    if customer_id is None:
        raise NotFound(f"follow-up {follow_up_id} does not exist")
    links = await uow.rows.lock_customer(customer_id)
    if links.erased:
        raise Gone(f"the customer of follow-up {follow_up_id} was erased")
    follow_up = FollowUp.rehydrate(e.event for e in await uow.load(str(follow_up_id)))
    ensure_version_matches(expected_version, follow_up.version)
    if action == "complete":
        follow_up.complete(by=by, now=now)
    elif action == "cancel":
        follow_up.cancel(by=by, now=now)
    else:
        if until is None:
            raise InvalidInput("until is required to snooze", field="until")
        follow_up.snooze(until=until, by=by, now=now)
    if follow_up.pending:
        await uow.append(
            stream_id=str(follow_up_id), stream_type="follow-up", expected_version=follow_up.expected_version,
            events=follow_up.pull_events(), subject=str(customer_id),
        )
        await uow.rows.save_follow_up(follow_up, by=by, now=now)
    body = await uow.rows.follow_up(follow_up_id)
    assert body is not None
    return Updated(body, version=body["version"])
