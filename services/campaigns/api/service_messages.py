"""Service follow-ups over HTTP: the templates (``GET``/``PUT /v1/service-messages``) and a customer's follow-ups.

Built like ``/v1/marketing-policy``: reading needs ``campaigns:read``; changing the wording every
customer receives is ``admin``; the version is the ETag and ``PUT`` takes ``If-Match``. See
``docs/service-messages.md``.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from services.campaigns.api.deps import Reader
from services.campaigns.application import service_messages as handlers
from services.campaigns.domain.service_messages import MAX_TEXT
from shared.contracts.campaigns import Channel, ServiceMessageKind, ServiceMessageTemplate
from shared.web import IfMatch, Principal, require
from shared.web.responses import run_and_respond

router = APIRouter(prefix="/v1", tags=["service messages"])

Admin = Annotated[Principal, Depends(require("admin"))]


class TemplateInput(BaseModel):
    """One follow-up's wording and channels (preference order; only channels the customer consented to are used)."""

    model_config = ConfigDict(extra="forbid")

    kind: ServiceMessageKind
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT, pattern=r"^[^\x00]*\S[^\x00]*$",
                               description="Plain words; {placeholders}: complaint_resolved {ticket_ref} {category}, "
                                           "order_delivered {order_ref} {delivered_on}, refund_paid {order_ref} "
                                           "{amount} {currency}.")]
    channels: list[Channel] = Field(min_length=1, max_length=3)
    enabled: StrictBool = True

    def template(self) -> ServiceMessageTemplate:
        return ServiceMessageTemplate(kind=self.kind, text=self.text, channels=list(self.channels),
                                      enabled=self.enabled)


class ServiceMessagesUpdate(BaseModel):
    """The templates to use; a kind left out keeps its default wording (422 for an unknown placeholder)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"templates": [
        {"kind": "complaint_resolved", "text": "Good news: your complaint {ticket_ref} about {category} is resolved.",
         "channels": ["email", "sms"], "enabled": True},
        {"kind": "refund_paid", "text": "We paid back {amount} {currency} for order {order_ref}.",
         "channels": ["email"], "enabled": True}]}]})

    templates: list[TemplateInput] = Field(max_length=3)


class TemplateRead(BaseModel):
    kind: ServiceMessageKind
    text: str
    channels: list[Channel]
    enabled: bool


class ServiceMessagesRead(BaseModel):
    """Every kind's template in force; ``version`` is the ETag (0: the defaults, never changed)."""

    templates: list[TemplateRead]
    version: int
    changed_by: str | None
    changed_at: str | None = Field(description="RFC 3339 UTC; null before the first change.")


class ServiceMessageRead(BaseModel):
    message_id: str
    kind: ServiceMessageKind
    status: str = Field(description="sent, deferred (quiet hours or a blackout day) or withheld (reason).")
    channel: Channel | None
    reason: str | None
    detail: str | None
    text: str
    triggering_event_id: str
    decided_at: str
    deferred_until: str | None
    sent_at: str | None


class ServiceMessagePage(BaseModel):
    items: list[ServiceMessageRead]


@router.get("/service-messages", response_model=ServiceMessagesRead)
async def service_message_templates(request: Request, principal: Reader) -> Response:
    """The service follow-up templates in force (ETag = version)."""
    async with request.app.state.pool.acquire() as conn:
        current = await handlers.load_templates(conn)
    return JSONResponse(handlers.templates_body(current), headers={"ETag": f'"{current.version}"'})


@router.put("/service-messages", response_model=ServiceMessagesRead)
async def replace_service_message_templates(body: ServiceMessagesUpdate, request: Request, principal: Admin,
                                            expected: IfMatch) -> Response:
    """Replace the templates, recorded as a ServiceMessageTemplatesChanged event; the next follow-up uses them.

    422 (nothing changed) for a kind listed twice, a channel listed twice, or a placeholder the kind
    does not know. The same templates again change nothing (same version).
    """
    now = request.app.state.clock.now()
    templates = [t.template() for t in body.templates]
    return await run_and_respond(request, lambda uow: handlers.replace_templates(
        uow, templates=templates, by=principal.subject, now=now, expected_version=expected))


@router.get("/customers/{customer_id}/service-messages", response_model=ServiceMessagePage)
async def customer_service_messages(customer_id: UUID, request: Request, principal: Reader) -> Response:
    """The customer's latest 50 service follow-ups, newest first: sent, deferred or withheld, and why."""
    async with request.app.state.pool.acquire() as conn:
        items = await handlers.service_messages_of(conn, str(customer_id))
    return JSONResponse({"items": items})
