"""Thin routes: parse, call a handler through ``run_command`` (or a query), answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from shared.errors import Forbidden, NotFound
from shared.idempotency import REPLAY_HEADER
from shared.web import DocumentedRouter, IdempotencyKey, IfMatch, Principal, etag_for
from shared.web.responses import run_and_respond

from ..application import handlers, queries
from ..config import TicketingSettings
from ..domain.sla import SlaPolicy
from . import schemas
from .deps import Cursor, Limit, Reader, SelfReader, SelfWriter, Writer
from .metrics import TicketingMetrics

router = DocumentedRouter(prefix="/v1")


def _configured_vocabulary(app: FastAPI, document: dict[str, Any]) -> None:
    """The document lists the transfer reasons and root causes this deployment accepts (settings)."""
    settings = app.state.settings
    rules = (settings if isinstance(settings, TicketingSettings) else TicketingSettings()).rules
    schemas = document.get("components", {}).get("schemas", {})
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
        request, lambda uow: handlers.open_ticket(uow, command=command, policy=policy, now=now), idempotency
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
    return {
        "transfer_reasons": list(policy.rules.transfer_reasons),
        "root_causes": list(policy.rules.root_causes),
        "reopen_window_days": policy.rules.reopen_window.days,
        "sla_policy": _policy_body(policy.sla),
    }


@router.post("/sla-policies/simulate", response_model=schemas.SimulationRead, tags=["sla"])
async def simulate_policy(body: schemas.SimulationRequest, request: Request, principal: Reader) -> dict[str, Any]:
    """Back-test a proposed SLA policy by replaying the recorded ticket history through it."""
    proposed = SlaPolicy.from_minutes(
        {
            tier: {p: (t.first_response_minutes, t.resolution_minutes) for p, t in rows.items()}
            for tier, rows in body.policy.tiers.items()
        }
    )
    async with request.app.state.pool.acquire() as conn:
        report = await queries.simulate_policy(conn, proposed, _now(request), opened_since=body.opened_since)
    return queries.report_json(report)
