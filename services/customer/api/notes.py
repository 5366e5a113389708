"""Routes of notes on customers and their follow-ups (issue 21.1): thin, like every customer route."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from services.customer.api import schemas
from services.customer.api.deps import Reader, Writer
from services.customer.application import notes, queries
from shared.errors import NotFound
from shared.web import IdempotencyKey, IfMatch, Principal, etag_for
from shared.web.audit import viewed
from shared.web.paging import Cursor, Limit
from shared.web.responses import run_and_respond

router = APIRouter(prefix="/v1")

def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


@router.post("/customers/{customer_id}/notes", status_code=201, response_model=schemas.NoteRead, tags=["notes"],
             responses={404: {"description": "No such customer."}, 409: {"description": "Merged into another."},
                        410: {"description": "The customer was erased."}})
async def write_note(
    customer_id: UUID, body: schemas.NoteCreate, request: Request, principal: Writer, idempotency: IdempotencyKey
) -> Response:
    """Write a note on the customer, optionally with a follow-up (owner: the writer unless named)."""
    now = _now(request)
    follow = body.follow_up
    return await run_and_respond(
        request,
        lambda uow: notes.write_note(
            uow, customer_id=customer_id, text=body.text, author=principal.subject, now=now,
            follow_up_owner=follow.owner if follow else None, follow_up_due_at=follow.due_at if follow else None,
        ),
        idempotency,
        location=f"/v1/customers/{customer_id}/notes",
    )


@router.get("/customers/{customer_id}/notes", response_model=schemas.NotePage, tags=["notes"])
async def customer_notes(
    customer_id: UUID, request: Request, principal: Reader, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    """The notes on the customer (and on duplicates merged into them), newest first; a read of personal data."""
    async with request.app.state.pool.acquire() as conn:
        await queries.visible_customer(conn, customer_id)
        page = await queries.customer_notes(conn, customer_id, limit=limit, cursor=cursor)
    await viewed(request, customer_id, "customer_notes")
    return page


@router.get("/follow-ups", response_model=schemas.FollowUpPage, tags=["notes"])
async def follow_ups(
    request: Request,
    principal: Reader,
    owner: Annotated[str | None, Query(min_length=1, max_length=200, pattern=schemas.SUBJECT_PATTERN,
                                       description="Whose follow-ups (a staff subject).")] = None,
    customer_id: Annotated[UUID | None, Query(description="Only this customer's follow-ups.")] = None,
    state: Annotated[list[schemas.FollowUpStateName] | None,
                     Query(max_length=4, description="States to list (repeatable); open and snoozed when left out.")
                     ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Follow-ups, due first (erased customers' are left out). Showing their notes is a read of those
    customers' personal data, recorded per customer."""
    async with request.app.state.pool.acquire() as conn:
        page = await queries.follow_ups(conn, owner=owner, customer_id=customer_id, states=state or (),
                                      limit=limit, cursor=cursor)
    for shown in dict.fromkeys(item["customer_id"] for item in page["items"] if item["note_text"] is not None):
        await viewed(request, shown, "customer_notes")
    return page


@router.get("/follow-ups/{follow_up_id}", response_model=schemas.FollowUpRead, tags=["notes"])
async def follow_up(follow_up_id: UUID, request: Request, principal: Reader) -> Response:
    """One follow-up (its ETag is the version for If-Match)."""
    async with request.app.state.pool.acquire() as conn:
        body = await queries.follow_up(conn, follow_up_id)
    if body is None:
        raise NotFound(f"follow-up {follow_up_id} does not exist")
    if body["note_text"] is not None:
        await viewed(request, body["customer_id"], "customer_notes")
    return JSONResponse(body, headers={"ETag": etag_for(body["version"])})


async def _act(
    request: Request,
    principal: Principal,
    follow_up_id: UUID,
    expected: int | None,
    action: notes.FollowUpAction,
    until: datetime | None = None,
) -> Response:
    """The three follow-up routes are one command, ``act_on_follow_up``, told which action (snooze adds a moment)."""
    now = _now(request)
    return await run_and_respond(request, lambda uow: notes.act_on_follow_up(
        uow, follow_up_id=follow_up_id, action=action, until=until, by=principal.subject, now=now,
        expected_version=expected))


_ACTION_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such follow-up."}, 409: {"description": "The follow-up is done or cancelled."},
    410: {"description": "Its customer was erased."}, 412: {"description": "If-Match names an older version."},
}


@router.post("/follow-ups/{follow_up_id}/complete", response_model=schemas.FollowUpRead, tags=["notes"],
             responses=_ACTION_ANSWERS)
async def complete_follow_up(follow_up_id: UUID, request: Request, principal: Writer, expected: IfMatch) -> Response:
    """Mark the follow-up done (again: nothing changes)."""
    return await _act(request, principal, follow_up_id, expected, "complete")


@router.post("/follow-ups/{follow_up_id}/snooze", response_model=schemas.FollowUpRead, tags=["notes"],
             responses=_ACTION_ANSWERS)
async def snooze_follow_up(
    follow_up_id: UUID, body: schemas.FollowUpSnooze, request: Request, principal: Writer, expected: IfMatch
) -> Response:
    """Put the follow-up off to a later due moment (422 when it is not later than now)."""
    return await _act(request, principal, follow_up_id, expected, "snooze", until=body.until)


@router.post("/follow-ups/{follow_up_id}/cancel", response_model=schemas.FollowUpRead, tags=["notes"],
             responses=_ACTION_ANSWERS)
async def cancel_follow_up(follow_up_id: UUID, request: Request, principal: Writer, expected: IfMatch) -> Response:
    """Cancel the follow-up: nothing is to be done any more (again: nothing changes)."""
    return await _act(request, principal, follow_up_id, expected, "cancel")
