"""Thin routes: parse, call a handler through ``run_command`` (or a query), answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from services.ticketing.adapters import calendars as calendar_rows
from services.ticketing.api import schemas
from services.ticketing.api.deps import Admin, Reader, SelfReader, SelfWriter, Writer
from services.ticketing.api.metrics import TicketingMetrics
from services.ticketing.application import calendars, export, handlers, queries
from services.ticketing.config import TicketingSettings
from services.ticketing.domain.simulation import SimulationReport
from services.ticketing.domain.sla import DEDICATED_TIER, STANDARD_TIER, SlaPolicy
from shared.errors import Forbidden, InvalidInput, NotFound, PlatformError
from shared.privacy.export_routes import export_part_router
from shared.store.idempotent_commands import REPLAY_HEADER
from shared.web import DocumentedRouter, IdempotencyKey, IfMatch, Principal, etag_for
from shared.web.app import app_settings
from shared.web.paging import Cursor, Limit
from shared.web.responses import run_and_respond

router = DocumentedRouter(prefix="/v1")
TICKET_LOCATION = "/v1/tickets/{id}"
CALENDAR_LOCATION = "/v1/calendars/{id}"


def _configured_vocabulary(app: FastAPI, document: dict[str, Any]) -> None:
    """The document lists the transfer reasons and root causes this deployment accepts (settings)."""
    rules = app_settings(app, TicketingSettings).rules
    schemas = document.get("components", {}).get("schemas", {})
    tiers = schemas.get("TierCalendarsBody", {}).get("properties", {}).get("tiers")
    if tiers is not None:
        # Tier names are configuration (the SLA policy's tiers), like the vocabularies below.
        tiers["propertyNames"] = {**tiers.get("propertyNames", {}), "enum": _tiers_of(app)}
    for model, field, allowed in (("TicketTransfer", "reason", rules.transfer_reasons),
                                  ("TicketResolve", "root_cause", rules.root_causes)):
        prop = schemas.get(model, {}).get("properties", {}).get(field)
        if prop is None:
            continue
        for branch in prop.get("anyOf", [prop]):
            if branch.get("type") == "string":
                branch["enum"] = list(allowed)


router.openapi_refiners.append(_configured_vocabulary)


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


def _policy(request: Request) -> handlers.TicketingPolicy:
    policy: handlers.TicketingPolicy = request.app.state.policy
    return policy


def _committed(result: Response) -> bool:
    return result.status_code < 300 and REPLAY_HEADER not in result.headers


def _metrics(request: Request) -> TicketingMetrics:
    metrics: TicketingMetrics = request.app.state.ticket_metrics
    return metrics


async def _own_ticket(request: Request, principal: Principal, ticket_id: UUID) -> None:
    """A self-service caller may only touch tickets of their own customer (404 otherwise: no probing)."""
    if not principal.is_self_service:
        return
    async with request.app.state.pool.acquire() as conn:
        customer_id = await conn.fetchval("select customer_id from tickets where id = $1", ticket_id)
    try:
        principal.ensure_can_access_customer(str(customer_id))
    except Forbidden:
        raise NotFound(f"ticket {ticket_id} does not exist", ticket_id=str(ticket_id)) from None


# --- tickets --------------------------------------------------------------------------------------


@router.post("/tickets", status_code=201, response_model=schemas.TicketRead, tags=["tickets"])
async def open_ticket(
    body: schemas.TicketCreate, request: Request, principal: SelfWriter, idempotency: IdempotencyKey
) -> Response:
    """Open a ticket (TicketOpened; ComplaintFiled for complaints; TicketAssigned when someone owns it)."""
    principal.ensure_can_access_customer(body.customer_id)
    command = handlers.OpenTicket(
        customer_id=body.customer_id,
        kind=body.kind,
        channel=body.channel,
        subject=body.subject,
        description=body.description,
        priority=body.priority,
        category=body.category,
        order_id=body.order_id,
        agent_id=None if principal.is_self_service else body.agent_id,
    )
    now, policy = _now(request), _policy(request)
    response = await run_and_respond(
        request,
        lambda uow: handlers.open_ticket(uow, command=command, policy=policy, now=now),
        idempotency,
        location=TICKET_LOCATION,
    )
    if _committed(response):
        _metrics(request).tickets_opened.labels(kind=body.kind, channel=body.channel).inc()
    return response


@router.get("/tickets", response_model=schemas.TicketPage, tags=["tickets"])
async def list_tickets(
    request: Request,
    principal: SelfReader,
    limit: Limit = 50,
    cursor: Cursor = None,
    customer_id: UUID | None = None,
    owner_id: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[list[schemas.Status] | None, Query()] = None,
    kind: schemas.Kind | None = None,
    priority: schemas.Priority | None = None,
    breached: bool | None = None,
    customer_verified: Annotated[
        bool | None, Query(description="false: provisional tickets whose customer is not known yet (ADR 0003)")
    ] = None,
    sort: Annotated[str, Query(pattern="^(due|newest)$", description="due: what breaches next first")] = "due",
) -> dict[str, Any]:
    """List tickets: the agent's queue (sorted by next due time), filtered and cursor-paginated."""
    if principal.is_self_service:
        customer_id = UUID(str(principal.customer_id))
    filters = queries.TicketFilter(
        customer_id=customer_id,
        owner_id=owner_id,
        status=status or (),
        kind=kind,
        priority=priority,
        breached=breached,
        customer_verified=customer_verified,
    )
    async with request.app.state.pool.acquire() as conn:
        return await queries.list_tickets(conn, filters, limit=limit, cursor=cursor, sort=sort)


@router.get("/tickets/{ticket_id}", response_model=schemas.TicketDetail, tags=["tickets"])
async def get_ticket(ticket_id: UUID, request: Request, principal: SelfReader) -> Response:
    """Read a ticket with its full history (internal comments are staff-only)."""
    await _own_ticket(request, principal, ticket_id)
    async with request.app.state.pool.acquire() as conn:
        ticket = await queries.get_ticket(
            conn, request.app.state.store, ticket_id, include_internal=not principal.is_self_service
        )
    return JSONResponse(ticket, headers={"ETag": etag_for(ticket["version"])})


@router.post("/tickets/{ticket_id}/assign", response_model=schemas.TicketRead, tags=["tickets"])
async def assign_ticket(
    ticket_id: UUID,
    body: schemas.TicketAssign,
    request: Request,
    principal: Writer,
    if_match: IfMatch,
    idempotency: IdempotencyKey,
) -> Response:
    """Give an unowned ticket its owner (changing an owner is a transfer)."""
    now = _now(request)
    return await run_and_respond(
        request,
        lambda uow: handlers.assign_ticket(
            uow, ticket_id=ticket_id, agent_id=body.agent_id, by=principal.subject, expected_version=if_match, now=now
        ),
        idempotency,
    )


@router.post("/tickets/{ticket_id}/transfer", response_model=schemas.TicketRead, tags=["tickets"])
async def transfer_ticket(
    ticket_id: UUID,
    body: schemas.TicketTransfer,
    request: Request,
    principal: Writer,
    if_match: IfMatch,
    idempotency: IdempotencyKey,
) -> Response:
    """Transfer the ticket to another agent, with a reason from the configured list (counted)."""
    now, policy = _now(request), _policy(request)
    response = await run_and_respond(
        request,
        lambda uow: handlers.transfer_ticket(
            uow,
            ticket_id=ticket_id,
            to_agent_id=body.to_agent_id,
            reason=body.reason,
            note=body.note,
            by=principal.subject,
            expected_version=if_match,
            policy=policy,
            now=now,
        ),
        idempotency,
    )
    if _committed(response):
        _metrics(request).transfers.labels(reason=body.reason).inc()
    return response


@router.post("/tickets/{ticket_id}/comments", status_code=201, response_model=schemas.TicketRead, tags=["conversation"])
async def comment_on_ticket(
    ticket_id: UUID,
    body: schemas.CommentCreate,
    request: Request,
    principal: SelfWriter,
    if_match: IfMatch,
    idempotency: IdempotencyKey,
) -> Response:
    """Add a public or internal comment.

    The first public agent reply is the first response, and on an unowned ticket it makes its author
    the owner (TicketAssigned, routing first_contact, in the same command).
    """
    await _own_ticket(request, principal, ticket_id)
    customer = principal.is_self_service
    author = principal.subject if customer else (body.author_id or principal.subject)
    visibility = "public" if customer else body.visibility
    now, recorded = _now(request), handlers.Recorded()
    response = await run_and_respond(
        request,
        lambda uow: handlers.comment_on_ticket(
            uow,
            ticket_id=ticket_id,
            author_id=author,
            author_type="customer" if customer else "agent",
            body=body.body,
            visibility=visibility,
            expected_version=if_match,
            now=now,
            recorded=recorded,
        ),
        idempotency,
        location=TICKET_LOCATION,
    )
    if _committed(response) and recorded.has("TicketAssigned"):
        _metrics(request).first_contact_owners.labels(via="reply").inc()
    return response


@router.post("/tickets/{ticket_id}/contacts", status_code=201, response_model=schemas.TicketRead, tags=["conversation"])
async def log_contact(
    ticket_id: UUID,
    body: schemas.ContactCreate,
    request: Request,
    principal: Writer,
    if_match: IfMatch,
    idempotency: IdempotencyKey,
) -> Response:
    """Log a call, email or visit with the customer (on an unowned ticket, its agent becomes the owner)."""
    now, recorded = _now(request), handlers.Recorded()
    response = await run_and_respond(
        request,
        lambda uow: handlers.log_customer_contact(
            uow,
            ticket_id=ticket_id,
            agent_id=body.agent_id or principal.subject,
            method=body.method,
            direction=body.direction,
            summary=body.summary,
            expected_version=if_match,
            now=now,
            recorded=recorded,
        ),
        idempotency,
        location=TICKET_LOCATION,
    )
    if _committed(response) and recorded.has("TicketAssigned"):
        _metrics(request).first_contact_owners.labels(via="contact").inc()
    return response


@router.post("/tickets/{ticket_id}/wait-for-customer", response_model=schemas.TicketRead, tags=["tickets"])
async def wait_for_customer(
    ticket_id: UUID, request: Request, principal: Writer, if_match: IfMatch, idempotency: IdempotencyKey
) -> Response:
    """Wait for the customer's answer (SLA clocks pause)."""
    now = _now(request)
    return await run_and_respond(
        request,
        lambda uow: handlers.wait_for_customer(
            uow, ticket_id=ticket_id, by=principal.subject, expected_version=if_match, now=now
        ),
        idempotency,
    )


@router.post("/tickets/{ticket_id}/resume", response_model=schemas.TicketRead, tags=["tickets"])
async def resume_ticket(
    ticket_id: UUID, request: Request, principal: Writer, if_match: IfMatch, idempotency: IdempotencyKey
) -> Response:
    """Resume work on a ticket waiting on the customer or reopened (SLA clocks run again)."""
    now = _now(request)
    return await run_and_respond(
        request,
        lambda uow: handlers.resume_ticket(
            uow, ticket_id=ticket_id, by=principal.subject, expected_version=if_match, now=now
        ),
        idempotency,
    )


@router.post("/tickets/{ticket_id}/escalate", response_model=schemas.TicketRead, tags=["tickets"])
async def escalate_ticket(
    ticket_id: UUID,
    request: Request,
    principal: Writer,
    if_match: IfMatch,
    idempotency: IdempotencyKey,
    body: schemas.Note | None = None,
) -> Response:
    """Escalate the ticket one level by hand."""
    now, note = _now(request), body.note if body else None
    response = await run_and_respond(
        request,
        lambda uow: handlers.escalate_ticket(
            uow, ticket_id=ticket_id, by=principal.subject, note=note, expected_version=if_match, now=now
        ),
        idempotency,
    )
    if _committed(response):
        _metrics(request).escalations.inc()
    return response


@router.post("/tickets/{ticket_id}/resolve", response_model=schemas.TicketRead, tags=["tickets"])
async def resolve_ticket(
    ticket_id: UUID,
    body: schemas.TicketResolve,
    request: Request,
    principal: Writer,
    if_match: IfMatch,
    idempotency: IdempotencyKey,
) -> Response:
    """Resolve the ticket (complaints need a root cause)."""
    now, policy = _now(request), _policy(request)
    return await run_and_respond(
        request,
        lambda uow: handlers.resolve_ticket(
            uow,
            ticket_id=ticket_id,
            resolution=body.resolution,
            root_cause=body.root_cause,
            by=principal.subject,
            expected_version=if_match,
            policy=policy,
            now=now,
        ),
        idempotency,
    )


@router.post("/tickets/{ticket_id}/reopen", response_model=schemas.TicketRead, tags=["tickets"])
async def reopen_ticket(
    ticket_id: UUID,
    request: Request,
    principal: SelfWriter,
    if_match: IfMatch,
    idempotency: IdempotencyKey,
    body: schemas.TicketReopen | None = None,
) -> Response:
    """Reopen a resolved ticket within the reopen window."""
    await _own_ticket(request, principal, ticket_id)
    now, policy, reason = _now(request), _policy(request), body.reason if body else None
    return await run_and_respond(
        request,
        lambda uow: handlers.reopen_ticket(
            uow,
            ticket_id=ticket_id,
            reason=reason,
            by=principal.subject,
            expected_version=if_match,
            policy=policy,
            now=now,
        ),
        idempotency,
    )


@router.post("/tickets/{ticket_id}/close", response_model=schemas.TicketRead, tags=["tickets"])
async def close_ticket(
    ticket_id: UUID, request: Request, principal: Writer, if_match: IfMatch, idempotency: IdempotencyKey
) -> Response:
    """Close a resolved ticket."""
    now = _now(request)
    return await run_and_respond(
        request,
        lambda uow: handlers.close_ticket(
            uow, ticket_id=ticket_id, by=principal.subject, expected_version=if_match, now=now
        ),
        idempotency,
    )


# --- SLA policies ---------------------------------------------------------------------------------


def _policy_body(policy: SlaPolicy) -> dict[str, Any]:
    return {
        "tiers": {
            tier: {p: {"first_response_minutes": f, "resolution_minutes": r} for p, (f, r) in rows.items()}
            for tier, rows in policy.as_minutes().items()
        }
    }


@router.get("/ticket-settings", response_model=schemas.TicketVocabulary, tags=["sla"])
async def ticket_settings(request: Request, principal: Reader) -> dict[str, Any]:
    """The configured transfer reasons, root causes, reopen window and SLA policy in force."""
    policy = _policy(request)
    async with request.app.state.pool.acquire() as conn:
        tiers = await calendar_rows.tier_assignments(conn)
    return {
        "transfer_reasons": list(policy.rules.transfer_reasons),
        "root_causes": list(policy.rules.root_causes),
        "reopen_window_days": policy.rules.reopen_window.days,
        "sla_policy": _policy_body(policy.sla),
        "sla_calendars": dict(sorted(tiers.items())),
    }


@router.post("/sla-policies/simulate", response_model=SimulationReport, tags=["sla"])
async def simulate_policy(body: schemas.SimulationRequest, request: Request, principal: Reader) -> dict[str, Any]:
    """Back-test a proposed SLA policy (and calendar) by replaying the recorded ticket history through it.

    Without ``calendar`` or ``calendar_definition`` each tier counts on its calendar in force.
    """
    proposed = SlaPolicy.from_minutes(
        {
            tier: {p: (t.first_response_minutes, t.resolution_minutes) for p, t in rows.items()}
            for tier, rows in body.policy.tiers.items()
        }
    )
    spec = body.calendar_definition.to_spec() if body.calendar_definition is not None else None
    now = _now(request)
    async with request.app.state.pool.acquire() as conn:
        calendar_for = await calendars.calendars_for_simulation(
            conn, name=body.calendar, spec=spec, longest_target=max(t.resolution for t in proposed.targets.values()),
            now=now,
        )
        report = await queries.simulate_policy(
            conn, request.app.state.store, proposed, now, opened_since=body.opened_since, calendar_for=calendar_for
        )
    return queries.report_json(report)


# --- business-hours calendars ---------------------------------------------------------------------

CalendarName = Annotated[
    str, Path(pattern=schemas.CALENDAR_NAME_PATTERN, max_length=63, description="The calendar's name (a slug).")
]
ICS_TYPES = ("text/calendar", "application/octet-stream")
ICS_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An iCalendar (RFC 5545) file, e.g. a public-holiday export; every event's dates are holidays.",
        "content": {
            "text/calendar": {
                "schema": {"type": "string", "minLength": 1},
                "example": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//example//EN\r\nBEGIN:VEVENT\r\n"
                "UID:xmas\r\nSUMMARY:Christmas Day\r\nDTSTART;VALUE=DATE:20261225\r\nEND:VEVENT\r\n"
                "END:VCALENDAR\r\n",
            }
        },
    }
}


class UnsupportedMediaType(PlatformError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


def _longest_target(request: Request) -> timedelta:
    return max(t.resolution for t in _policy(request).sla.targets.values())


def _known_tiers(request: Request) -> list[str]:
    return _tiers_of(request.app)


def _tiers_of(app: FastAPI) -> list[str]:
    """The SLA tiers a calendar can be assigned to: the built-in two and any the configured policy adds."""
    policy = app_settings(app, TicketingSettings).sla_policy
    return sorted({STANDARD_TIER, DEDICATED_TIER} | {tier for tier, _ in policy.targets})


@router.get("/calendars", response_model=schemas.CalendarPage, tags=["calendars"])
async def list_calendars(request: Request, principal: Reader) -> dict[str, Any]:
    """Every business-hours calendar, with the SLA tiers that count on it."""
    async with request.app.state.pool.acquire() as conn:
        return await calendars.list_calendars(conn)


@router.get("/calendars/{calendar_name}", response_model=schemas.CalendarRead, tags=["calendars"])
async def get_calendar(calendar_name: CalendarName, request: Request, principal: Reader) -> Response:
    """One calendar (ETag is its version, for If-Match)."""
    async with request.app.state.pool.acquire() as conn:
        body = await calendars.calendar_json(conn, calendar_name)
    return JSONResponse(body, headers={"ETag": etag_for(body["version"])})


@router.put(
    "/calendars/{calendar_name}",
    response_model=schemas.CalendarRead,
    tags=["calendars"],
    responses={201: {"description": "Created", "model": schemas.CalendarRead}},
)
async def put_calendar(
    calendar_name: CalendarName, body: schemas.CalendarBody, request: Request, principal: Admin, if_match: IfMatch
) -> Response:
    """Define a calendar (201) or replace it (200: CalendarChanged, and open tickets on it are re-planned)."""
    now, spec, longest = _now(request), body.to_spec(), _longest_target(request)
    return await run_and_respond(
        request,
        lambda uow: calendars.define_calendar(
            uow, name=calendar_name, spec=spec, by=principal.subject, now=now, expected_version=if_match,
            longest_target=longest,
        ),
        location=CALENDAR_LOCATION,
    )


@router.post(
    "/calendars/{calendar_name}/holidays/import",
    response_model=schemas.CalendarRead,
    tags=["calendars"],
    openapi_extra=ICS_REQUEST_BODY,
)
async def import_calendar_holidays(
    calendar_name: CalendarName,
    request: Request,
    principal: Admin,
    if_match: IfMatch,
    replace: Annotated[bool, Query(description="true: the file's holidays replace the calendar's")] = False,
) -> Response:
    """Import public holidays from an uploaded .ics file (422 for a malformed one; re-plans like a change)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in ICS_TYPES:
        raise UnsupportedMediaType(f"send the .ics file as {' or '.join(ICS_TYPES)}")
    data = await request.body()
    if not data.strip():
        raise InvalidInput("the .ics file is empty", field="body")
    now, longest = _now(request), _longest_target(request)
    return await run_and_respond(
        request,
        lambda uow: calendars.import_holidays(
            uow, name=calendar_name, data=data, replace=replace, by=principal.subject, now=now,
            expected_version=if_match, longest_target=longest,
        ),
    )


@router.get("/sla-policies/calendars", response_model=schemas.TierCalendarsRead, tags=["calendars"])
async def tier_calendars(request: Request, principal: Reader) -> Response:
    """Which calendar each SLA tier counts on (null: 24/7); ETag is the assignment's version."""
    async with request.app.state.pool.acquire() as conn:
        body = await calendars.tiers_body(conn, request.app.state.store)
    return JSONResponse(body, headers={"ETag": etag_for(body["version"])})


@router.put("/sla-policies/calendars", response_model=schemas.TierCalendarsRead, tags=["calendars"])
async def assign_tier_calendars(
    body: schemas.TierCalendarsBody, request: Request, principal: Admin, if_match: IfMatch
) -> Response:
    """Name each SLA tier's calendar (SlaCalendarsAssigned); the tier's open tickets are re-planned onto it."""
    now, known = _now(request), _known_tiers(request)
    return await run_and_respond(
        request,
        lambda uow: calendars.assign_tier_calendars(
            uow, tiers=body.tiers, known_tiers=known, by=principal.subject, now=now, expected_version=if_match
        ),
    )


# --- right of access -------------------------------------------------------------------------------


async def _export_part(request: Request, customer_id: UUID) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        return await export.export_part(conn, request.app.state.store, customer_id, now=request.app.state.clock.now())


router.include_router(export_part_router(_export_part))
