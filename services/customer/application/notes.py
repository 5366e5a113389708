"""Use cases of notes and follow-ups: write a note (with a follow-up), act on a follow-up, read them.

Commands run in one unit of work like every customer command: the customer's row is locked first
(so an erasure or a merge cannot slip in between the check and the append), events are appended and
the read models written in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

from services.customer.adapters import notes as rows
from services.customer.adapters import readmodel
from services.customer.application.handlers import _load_customer
from services.customer.application.queries import _row, decode_cursor, encode_cursor
from services.customer.domain.notes import PENDING, FollowUp, Note
from shared.contracts.customer import FollowUpState
from shared.errors import Gone, InvalidInput, NotFound
from shared.ids import new_id
from shared.store.idempotent_commands import CommandResult
from shared.store.uow import UnitOfWork
from shared.store.versions import ensure_version_matches
from shared.web.etag import etag_for

FollowUpAction = Literal["complete", "snooze", "cancel"]


async def write_note(
    uow: UnitOfWork,
    *,
    customer_id: UUID,
    text: str,
    author: str,
    now: datetime,
    follow_up_owner: str | None = None,
    follow_up_due_at: datetime | None = None,
) -> CommandResult:
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
    await rows.insert_note(uow.conn, note)
    if follow_up is not None:
        await uow.append(
            stream_id=str(follow_up.id), stream_type="follow-up", expected_version=0,
            events=follow_up.pull_events(), subject=str(customer_id),
        )
        await rows.save_follow_up(uow.conn, follow_up, by=author, now=now)
    body = await note_body(uow.conn, note.id)
    return CommandResult(201, body, {"Location": f"/v1/customers/{customer_id}/notes"})


async def act_on_follow_up(
    uow: UnitOfWork,
    *,
    follow_up_id: UUID,
    action: FollowUpAction,
    by: str,
    now: datetime,
    until: datetime | None = None,
    expected_version: int | None = None,
) -> CommandResult:
    """Complete, snooze or cancel a follow-up (``If-Match`` checked first); 410 once its customer is erased."""
    customer_id = await rows.follow_up_customer(uow.conn, follow_up_id)
    if customer_id is None:
        raise NotFound(f"follow-up {follow_up_id} does not exist")
    links = await readmodel.lock_customer(uow.conn, customer_id)
    if links.erased:
        raise Gone(f"the customer of follow-up {follow_up_id} was erased")
    follow_up = FollowUp.rehydrate(e.event for e in await uow.store.load(uow.conn, str(follow_up_id)))
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
        await rows.save_follow_up(uow.conn, follow_up, by=by, now=now)
    body = await follow_up_body(uow.conn, follow_up_id)
    assert body is not None
    return CommandResult(200, body, {"ETag": etag_for(body["version"])})


# --- reads ----------------------------------------------------------------------------------------

_FOLLOW_UP_COLUMNS = """f.id, f.customer_id, f.note_id, f.owner, f.state, f.due_at, f.scheduled_by, f.scheduled_at,
    f.updated_at, f.version"""


async def note_body(conn: asyncpg.Connection, note_id: UUID) -> dict[str, Any]:
    """One note with its follow-up (``None`` when it asked for none)."""
    row = await conn.fetchrow("select id, customer_id, text, author, written_at from customer_notes where id = $1",
                              note_id)
    assert row is not None
    follow = await conn.fetchrow(f"select {_FOLLOW_UP_COLUMNS} from follow_ups f where note_id = $1", note_id)
    return {**_row(row), "follow_up": None if follow is None else _row(follow)}


def _position(cursor: str | None) -> tuple[datetime | None, UUID | None]:
    """Where the previous page ended (a moment and an id); a cursor we did not issue is a 422."""
    after = decode_cursor(cursor, 2)
    try:
        return (datetime.fromisoformat(after[0]), UUID(after[1])) if after else (None, None)
    except (TypeError, ValueError):
        raise InvalidInput("cursor is not one this service issued", field="cursor") from None


async def customer_notes(
    conn: asyncpg.Connection, customer_id: UUID, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Notes on the customer and on the duplicates merged into them (the same person), newest first."""
    after_at, after_id = _position(cursor)
    notes = await conn.fetch(
        """select n.id, n.customer_id, n.text, n.author, n.written_at from customer_notes n
           where (n.customer_id = $1 or n.customer_id in (select id from customers where merged_into = $1))
             and ($2::timestamptz is null or (n.written_at, n.id) < ($2, $3::uuid))
           order by n.written_at desc, n.id desc limit $4""",
        customer_id, after_at, after_id, limit + 1,
    )
    more = len(notes) > limit
    notes = notes[:limit]
    follows = await conn.fetch(f"select {_FOLLOW_UP_COLUMNS} from follow_ups f where note_id = any($1::uuid[])",
                               [n["id"] for n in notes])
    by_note = {f["note_id"]: _row(f) for f in follows}
    items = [{**_row(n), "follow_up": by_note.get(n["id"])} for n in notes]
    last = notes[-1] if notes else None
    return {"items": items,
            "next_cursor": encode_cursor(last["written_at"], last["id"]) if more and last is not None else None}


async def follow_up_body(conn: asyncpg.Connection, follow_up_id: UUID) -> dict[str, Any] | None:
    """A follow-up with the text of its note (``None`` for a note erased with its customer)."""
    row = await conn.fetchrow(
        f"""select {_FOLLOW_UP_COLUMNS}, n.text as note_text from follow_ups f
            left join customer_notes n on n.id = f.note_id where f.id = $1""",
        follow_up_id,
    )
    return None if row is None else _row(row)


async def follow_ups(
    conn: asyncpg.Connection,
    *,
    owner: str | None,
    customer_id: UUID | None,
    states: Sequence[FollowUpState],
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Follow-ups in ``states`` (open and snoozed when none), due first; erased customers' are left out."""
    after_at, after_id = _position(cursor)
    found = await conn.fetch(
        f"""select {_FOLLOW_UP_COLUMNS}, n.text as note_text from follow_ups f
            join customers c on c.id = f.customer_id and c.status <> 'erased'
            left join customer_notes n on n.id = f.note_id
            where ($1::text is null or f.owner = $1) and ($2::uuid is null or f.customer_id = $2)
              and f.state = any($3::text[])
              and ($4::timestamptz is null or (f.due_at, f.id) > ($4, $5::uuid))
            order by f.due_at, f.id limit $6""",
        owner, customer_id, list(states or PENDING), after_at, after_id, limit + 1,
    )
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if found else None
    return {"items": [_row(f) for f in found],
            "next_cursor": encode_cursor(last["due_at"], last["id"]) if more and last is not None else None}
