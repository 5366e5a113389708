"""Thin routes: parse, call a handler through ``run_command`` (or a query), answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Concatenate, Literal, ParamSpec
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from services.customer.adapters import exports as export_rows
from services.customer.api import schemas
from services.customer.api.deps import (
    Admin,
    ExportRequester,
    OrderWriter,
    PrivacyOfficer,
    Reader,
    SelfOnly,
    SelfOrderWriter,
    SelfReader,
    SelfWriter,
    Writer,
)
from services.customer.application import exports, handlers, queries
from services.customer.config import CustomerSettings
from services.customer.domain.model import LineRequest
from shared.contracts.customer import DuplicateRuleSet
from shared.contracts.privacy import PersonalDataViewName
from shared.errors import Conflict, Forbidden, Gone, NotFound
from shared.ids import new_id
from shared.privacy.export_routes import export_part_router
from shared.web import IdempotencyKey, IdempotencyRequest, IfMatch, Principal, etag_for
from shared.web.app import app_settings
from shared.web.audit import viewed
from shared.web.paging import Cursor, Limit
from shared.web.responses import run_and_respond

router = APIRouter(prefix="/v1")
P = ParamSpec("P")

OrderStatusFilter = Literal["placed", "shipped", "delivered", "cancelled", "returned"]


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


async def _run(
    request: Request,
    handler: Callable[Concatenate[handlers.CustomerWork, P], Awaitable[Any]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> Response:
    """Run one command handler with the route's arguments and answer its outcome.

    A command route then reads as the handler it calls and what it passes, with mypy checking those
    arguments against the handler's signature; the arguments are evaluated once, so a retry on a lost
    race (``run_and_respond``) runs the handler again with the same ``now``.
    """
    return await run_and_respond(request, lambda uow: handler(uow, *args, **kwargs))


async def _read(request: Request, query: Callable[[Any], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        return await query(conn)


def _lines(body: schemas.OrderCreate | schemas.MyOrderCreate) -> list[LineRequest]:
    return [LineRequest(**line.model_dump()) for line in body.lines]


# --- customers ------------------------------------------------------------------------------------


@router.post("/customers", status_code=201, response_model=schemas.CustomerRead, tags=["customers"])
async def register_customer(
    body: schemas.CustomerCreate, request: Request, principal: Writer, idempotency: IdempotencyKey
) -> Response:
    """Register a customer (409 with existing_customer_id when the email or phone is taken)."""
    now = _now(request)
    return await run_and_respond(
        request,
        lambda uow: handlers.register_customer(
            uow, now=now, **body.model_dump(exclude={"consents"}), consents=body.consents.given()
        ),
        idempotency,
        location="/v1/customers/{id}",
    )


@router.get("/customers", response_model=schemas.CustomerPage, tags=["customers"])
async def search_customers(
    request: Request,
    principal: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    email: Annotated[str | None, Query(min_length=3, max_length=254, pattern=schemas.EMAIL_PATTERN)] = None,
    phone: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=100, description="Part of the name.")] = None,
) -> dict[str, Any]:
    """Search customers by email, phone or name."""
    return await _read(
        request,
        lambda conn: queries.search_customers(conn, email=email, phone=phone, q=q, limit=limit, cursor=cursor),
    )


@router.get("/customers/duplicates", response_model=schemas.DuplicatePage, tags=["identity"])
async def duplicate_candidates(
    request: Request, principal: Reader, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    """Candidate duplicates with the evidence, for an operator to merge."""
    store = request.app.state.store
    return await _read(request, lambda conn: queries.duplicate_candidates(conn, store, limit=limit, cursor=cursor))


@router.get("/duplicate-rules", response_model=schemas.DuplicateRulesRead, tags=["identity"])
async def duplicate_rules(request: Request, principal: Admin) -> Response:
    """The rules that suggest duplicate customers (ETag is the version for If-Match)."""
    store = request.app.state.store
    body = await _read(request, lambda conn: _rules_body(conn, store))
    return JSONResponse(body, headers={"ETag": etag_for(body["version"])})


async def _rules_body(conn: Any, store: Any) -> dict[str, Any]:
    return queries.rules_body(await queries.duplicate_rules(conn, store))


@router.put("/duplicate-rules", response_model=schemas.DuplicateRulesRead, tags=["identity"])
async def replace_duplicate_rules(
    body: schemas.DuplicateRulesUpdate, request: Request, principal: Admin, expected: IfMatch
) -> Response:
    """Replace the duplicate detection rules (422 when no identifier is enabled); recorded as an event."""
    rules = DuplicateRuleSet(**body.model_dump())
    return await _run(
        request, handlers.replace_duplicate_rules,
        rules=rules, by=principal.subject, now=_now(request), expected_version=expected,
    )


async def _customer_response(request: Request, customer_id: UUID) -> Response:
    body = await _read(request, lambda conn: queries.visible_customer(conn, customer_id))
    await viewed(request, customer_id, "customer_profile")
    return JSONResponse(body, headers={"ETag": etag_for(body["version"])})


@router.get("/customers/{customer_id}", response_model=schemas.CustomerRead, tags=["customers"])
async def get_customer(customer_id: UUID, request: Request, principal: SelfReader) -> Response:
    """A customer's profile (a merged duplicate answers with merged_into; erased is 410)."""
    return await _customer_response(request, customer_id)


@router.patch("/customers/{customer_id}", response_model=schemas.CustomerRead, tags=["customers"])
async def update_customer(
    customer_id: UUID, body: schemas.CustomerUpdate, request: Request, principal: Writer, expected: IfMatch
) -> Response:
    """Change profile fields; If-Match with a stale version is a 412."""
    return await _run(
        request, handlers.update_profile,
        customer_id=customer_id, changes=body.changes(), expected_version=expected, now=_now(request),
    )


def _consent_source(principal: Principal) -> Literal["self_service", "operator"]:
    return "self_service" if principal.is_self_service else "operator"


@router.put("/customers/{customer_id}/consents", response_model=schemas.CustomerRead, tags=["customers"])
async def change_consents(
    customer_id: UUID, body: schemas.ConsentsInput, request: Request, principal: SelfWriter, expected: IfMatch
) -> Response:
    """Grant or withdraw contact consent per channel."""
    return await _run(
        request, handlers.change_consents,
        customer_id=customer_id, consents=body.given(), source=_consent_source(principal), now=_now(request),
        expected_version=expected,
    )


@router.put("/customers/{customer_id}/account-manager", response_model=schemas.CustomerRead, tags=["customers"])
async def assign_account_manager(
    customer_id: UUID, body: schemas.AccountManagerAssign, request: Request, principal: Writer, expected: IfMatch
) -> Response:
    """Assign the customer's dedicated account manager."""
    return await _run(
        request, handlers.assign_account_manager,
        customer_id=customer_id, account_manager_id=body.account_manager_id, by=principal.subject, now=_now(request),
        expected_version=expected,
    )


@router.post("/customers/{customer_id}/merge", response_model=schemas.CustomerRead, tags=["identity"])
async def merge_customers(
    customer_id: UUID, body: schemas.MergeRequest, request: Request, principal: Writer
) -> Response:
    """Merge a duplicate into this customer, recording who, why and the evidence."""
    return await _run(
        request, handlers.merge_customers,
        survivor_id=customer_id, duplicate_id=body.duplicate_id, reason=body.reason, by=principal.subject,
        now=_now(request), confirm_verified_identities=body.confirm_verified_identities,
    )


@router.post("/customers/{customer_id}/verifications", response_model=schemas.CustomerRead, tags=["identity"])
async def verify_contact(
    customer_id: UUID, body: schemas.ContactVerify, request: Request, principal: Writer, expected: IfMatch
) -> Response:
    """Record that the customer proved they own their email or phone (a verified identity)."""
    return await _run(
        request, handlers.verify_contact,
        customer_id=customer_id, channel=body.channel, method=body.method, by=principal.subject, now=_now(request),
        expected_version=expected,
    )


@router.post("/customers/{customer_id}/unmerge", response_model=schemas.CustomerRead, tags=["identity"])
async def unmerge_customers(
    customer_id: UUID, body: schemas.UnmergeRequest, request: Request, principal: Writer
) -> Response:
    """Undo a merge: the duplicate's history is its own again."""
    return await _run(
        request, handlers.unmerge_customers,
        survivor_id=customer_id, duplicate_id=body.duplicate_id, reason=body.reason, by=principal.subject,
        now=_now(request),
    )


@router.delete("/customers/{customer_id}", status_code=204, tags=["privacy"])
async def erase_customer(customer_id: UUID, request: Request, principal: PrivacyOfficer) -> Response:
    """Erase the customer's personal data (right to be forgotten); their key is destroyed."""
    return await _run(
        request, handlers.erase_customer,
        customer_id=customer_id, by=principal.subject, now=_now(request), acknowledgers=_erasure_acknowledgers(request),
    )


def _erasure_acknowledgers(request: Request) -> tuple[str, ...]:
    return app_settings(request.app, CustomerSettings).erasure_services


@router.get("/customers/{customer_id}/erasure", response_model=schemas.ErasureRead, tags=["privacy"])
async def erasure_status(customer_id: UUID, request: Request, principal: PrivacyOfficer) -> dict[str, Any]:
    """Each service's acknowledgement of the customer's erasure: pending or done, and when."""
    return await _read(request, lambda conn: queries.erasure_status(conn, customer_id))


@router.get("/customers/{customer_id}/export", tags=["privacy"])
async def export_customer(customer_id: UUID, request: Request, principal: ExportRequester) -> dict[str, Any]:
    """Everything this service holds about the customer (right of access)."""
    store, now = request.app.state.store, _now(request)
    held = await _read(request, lambda conn: queries.export(conn, store, customer_id, now=now))
    await viewed(request, customer_id, "customer_export")
    return held


_DOCUMENT_EXAMPLE = {
    "$schema": exports.DOCUMENT_SCHEMA, "export_id": "0190a4a6-0000-7000-8000-0000000000e1",
    "customer_id": "0190a4a6-0000-7000-8000-000000000001", "requested_at": "2026-12-05T18:00:00.000000Z",
    "requested_by": "dpo@example.com", "self_service": False, "completed_at": "2026-12-05T18:00:01.000000Z",
    "services": [{"service": "ticketing", "exported_at": "2026-12-05T18:00:00.310000Z",
                  "sections": {"tickets": []}, "tables": {"tickets": "tickets"}, "not_personal": {}}],
}


def _gatherer(request: Request) -> exports.Gatherer:
    state = request.app.state
    return exports.Gatherer(state.pool, state.store, state.clock, parts=state.export_parts)


async def _export_row(request: Request, customer_id: UUID, export_id: UUID) -> Any:
    async with request.app.state.pool.acquire() as conn:
        row = await export_rows.read(conn, customer_id, export_id)
    if row is None:
        raise NotFound(f"customer {customer_id} has no export {export_id}")
    return row


@router.post("/customers/{customer_id}/exports", status_code=202, response_model=schemas.ExportRead,
             tags=["privacy"])
async def request_export(customer_id: UUID, request: Request, principal: ExportRequester) -> JSONResponse:
    """Export everything every service holds about the customer (a job: poll its Location for progress)."""
    export_id, now = new_id(), _now(request)
    async with request.app.state.pool.acquire() as conn:
        await exports.request_export(conn, request.app.state.store, customer_id, export_id,
                                     requested_by=principal.subject, self_service=principal.is_self_service, now=now)
    _gatherer(request).start(export_id, customer_id, requested_at=now, requested_by=principal.subject,
                             self_service=principal.is_self_service)
    row = await _export_row(request, customer_id, export_id)
    location = f"/v1/customers/{customer_id}/exports/{export_id}"
    return JSONResponse(orjson.loads(orjson.dumps(exports.status_json(row))), status_code=202,
                        headers={"Location": location})


@router.get("/customers/{customer_id}/exports/{export_id}", response_model=schemas.ExportRead, tags=["privacy"])
async def export_status(customer_id: UUID, export_id: UUID, request: Request,
                        principal: ExportRequester) -> dict[str, Any]:
    """An export's status and progress per service, with the document's links once done."""
    return exports.status_json(await _export_row(request, customer_id, export_id))


async def _document(request: Request, customer_id: UUID, export_id: UUID,
                    view: PersonalDataViewName) -> dict[str, Any]:
    row = await _export_row(request, customer_id, export_id)
    if row["status"] == "erased":
        raise Gone(f"the customer was erased: export {export_id} is gone")
    if row["status"] != "done":
        raise Conflict(f"export {export_id} is {row['status']}; the document exists once it is done",
                       status=row["status"])
    document: dict[str, Any] = row["document"]
    await viewed(request, customer_id, view)
    return document


@router.get("/customers/{customer_id}/exports/{export_id}/document", tags=["privacy"],
            responses={200: {"description": "The export document (schemas/export/customer-export.json).",
                             "content": {"application/json": {"example": _DOCUMENT_EXAMPLE}}},
                       409: {"description": "The export is still running or failed."},
                       410: {"description": "The customer was erased since."}})
async def export_document(customer_id: UUID, export_id: UUID, request: Request,
                          principal: ExportRequester) -> dict[str, Any]:
    """The export as one machine-readable JSON document (every service's part)."""
    return await _document(request, customer_id, export_id, "export_document")


@router.get("/customers/{customer_id}/exports/{export_id}/document.html", tags=["privacy"],
            response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {"example": "<!doctype html><html>...</html>"}}},
                       409: {"description": "The export is still running or failed."},
                       410: {"description": "The customer was erased since."}})
async def export_rendering(customer_id: UUID, export_id: UUID, request: Request,
                           principal: ExportRequester) -> HTMLResponse:
    """The export rendered for a person to read (HTML)."""
    return HTMLResponse(exports.render_html(await _document(request, customer_id, export_id, "export_rendering")))


async def _own_part(request: Request, customer_id: UUID) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        return await exports.own_part(conn, request.app.state.store, customer_id, now=_now(request))


router.include_router(export_part_router(_own_part))


@router.get("/customers/{customer_id}/orders", response_model=schemas.OrderPage, tags=["orders"])
async def customer_orders(
    customer_id: UUID,
    request: Request,
    principal: SelfReader,
    status: OrderStatusFilter | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The customer's orders, newest first (merged duplicates' orders included)."""
    await _read(request, lambda conn: queries.visible_customer(conn, customer_id))
    return await _read(
        request,
        lambda conn: queries.customer_orders(conn, customer_id=customer_id, status=status, limit=limit, cursor=cursor),
    )


# --- orders, invoices, payments -------------------------------------------------------------------


@router.post("/orders", status_code=201, response_model=schemas.OrderRead, tags=["orders"])
async def place_order(
    body: schemas.OrderCreate, request: Request, principal: SelfOrderWriter, idempotency: IdempotencyKey
) -> Response:
    """Place an order; totals and margin are computed here with exact decimals."""
    principal.ensure_can_access_customer(body.customer_id)
    return await _place_order(request, body, body.customer_id, idempotency)


async def _place_order(
    request: Request,
    body: schemas.OrderCreate | schemas.MyOrderCreate,
    customer_id: UUID,
    idempotency: IdempotencyRequest | None,
) -> Response:
    """Place an order for ``customer_id``: an operator names the customer in the body, a customer is the token's."""
    now = _now(request)
    return await run_and_respond(
        request,
        lambda uow: handlers.place_order(
            uow,
            customer_id=customer_id,
            lines=_lines(body),
            currency=body.currency,
            channel=body.channel,
            offer_code=body.offer_code,
            promised_delivery_date=body.promised_delivery_date,
            now=now,
        ),
        idempotency,
        location="/v1/orders/{id}",
    )


async def _order_for(request: Request, order_id: UUID, principal: Principal) -> dict[str, Any]:
    async def find(conn: Any) -> dict[str, Any]:
        found = await queries.order(conn, order_id)
        if found is None:
            raise NotFound(f"order {order_id} does not exist")
        return found

    body = await _read(request, find)
    if principal.is_self_service and body["customer_id"] != str(UUID(str(principal.customer_id))):
        raise Forbidden("This token may only access its own customer's data.")
    return body


@router.get("/orders/{order_id}", response_model=schemas.OrderRead, tags=["orders"])
async def get_order(order_id: UUID, request: Request, principal: SelfReader) -> Response:
    """An order and its status."""
    body = await _order_for(request, order_id, principal)
    return JSONResponse(body, headers={"ETag": etag_for(body["version"])})


@router.post("/orders/{order_id}/ship", response_model=schemas.OrderRead, tags=["orders"])
async def ship_order(
    order_id: UUID, request: Request, principal: OrderWriter, body: schemas.ShipRequest | None = None
) -> Response:
    """Mark a placed order shipped."""
    ship = body or schemas.ShipRequest()
    return await _run(
        request, handlers.ship_order,
        order_id=order_id, now=_now(request), carrier=ship.carrier, tracking_number=ship.tracking_number,
    )


@router.post("/orders/{order_id}/deliver", response_model=schemas.OrderRead, tags=["orders"])
async def deliver_order(order_id: UUID, request: Request, principal: OrderWriter) -> Response:
    """Mark a shipped order delivered."""
    return await _run(request, handlers.deliver_order, order_id=order_id, now=_now(request))


@router.post("/orders/{order_id}/cancel", response_model=schemas.OrderRead, tags=["orders"])
async def cancel_order(
    order_id: UUID, request: Request, principal: OrderWriter, body: schemas.ReasonRequest | None = None
) -> Response:
    """Cancel an order that is placed or shipped."""
    reason = body.reason if body else None
    return await _run(request, handlers.cancel_order, order_id=order_id, now=_now(request), reason=reason)


@router.post("/orders/{order_id}/return", response_model=schemas.OrderRead, tags=["orders"])
async def return_order(
    order_id: UUID, request: Request, principal: OrderWriter, body: schemas.ReasonRequest | None = None
) -> Response:
    """Take back a delivered order within the return window."""
    reason = body.reason if body else None
    window = timedelta(days=app_settings(request.app, CustomerSettings).return_window_days)
    return await _run(
        request, handlers.return_order, order_id=order_id, now=_now(request), window=window, reason=reason
    )


@router.post("/invoices", status_code=201, response_model=schemas.InvoiceRead, tags=["billing"])
async def issue_invoice(
    body: schemas.InvoiceCreate, request: Request, principal: OrderWriter, idempotency: IdempotencyKey
) -> Response:
    """Issue the invoice of an order."""
    now = _now(request)
    return await run_and_respond(
        request,
        lambda uow: handlers.issue_invoice(uow, order_id=body.order_id, due_date=body.due_date, now=now),
        idempotency,
        location="/v1/invoices/{id}",
    )


@router.get("/invoices/{invoice_id}", response_model=schemas.InvoiceRead, tags=["billing"])
async def get_invoice(invoice_id: UUID, request: Request, principal: Reader) -> dict[str, Any]:
    """An invoice with what is paid and outstanding."""

    async def find(conn: Any) -> dict[str, Any]:
        found = await queries.invoice(conn, invoice_id)
        if found is None:
            raise NotFound(f"invoice {invoice_id} does not exist")
        return found

    return await _read(request, find)


@router.post("/payments", status_code=201, response_model=schemas.PaymentRead, tags=["billing"])
async def receive_payment(
    body: schemas.PaymentCreate, request: Request, principal: OrderWriter, idempotency: IdempotencyKey
) -> Response:
    """Record a payment; partial payments add up, overpayment is a 422."""
    now = _now(request)
    return await run_and_respond(
        request,
        lambda uow: handlers.receive_payment(
            uow, invoice_id=body.invoice_id, amount=body.amount, method=body.method, now=now
        ),
        idempotency,
        location="/v1/payments/{id}",
    )


# --- self-service ---------------------------------------------------------------------------------


def _me(principal: Principal) -> UUID:
    return UUID(str(principal.customer_id))


@router.get("/me", response_model=schemas.CustomerRead, tags=["self-service"])
async def my_profile(request: Request, principal: SelfOnly) -> Response:
    """The calling customer's own profile."""
    return await _customer_response(request, _me(principal))


@router.get("/me/orders", response_model=schemas.OrderPage, tags=["self-service"])
async def my_orders(
    request: Request,
    principal: SelfOnly,
    status: OrderStatusFilter | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The calling customer's orders, newest first."""
    me = _me(principal)
    return await _read(
        request, lambda conn: queries.customer_orders(conn, customer_id=me, status=status, limit=limit, cursor=cursor)
    )


@router.get("/me/orders/{order_id}", response_model=schemas.OrderRead, tags=["self-service"])
async def my_order(order_id: UUID, request: Request, principal: SelfOnly) -> dict[str, Any]:
    """Track one of the calling customer's orders."""
    return await _order_for(request, order_id, principal)


@router.post("/me/orders", status_code=201, response_model=schemas.OrderRead, tags=["self-service"])
async def place_my_order(
    body: schemas.MyOrderCreate, request: Request, principal: SelfOnly, idempotency: IdempotencyKey
) -> Response:
    """Place an order for the calling customer."""
    return await _place_order(request, body, _me(principal), idempotency)


@router.put("/me/consents", response_model=schemas.CustomerRead, tags=["self-service"])
async def change_my_consents(body: schemas.ConsentsInput, request: Request, principal: SelfOnly) -> Response:
    """Change the calling customer's own contact consents."""
    return await _run(
        request, handlers.change_consents,
        customer_id=_me(principal), consents=body.given(), source="self_service", now=_now(request),
    )


# --- internal -------------------------------------------------------------------------------------


