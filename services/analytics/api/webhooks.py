"""Webhook routes (``/v1/webhooks/...``): subscriptions as data, their delivery log, dead letters, replays.

Every route needs ``admin``: a subscription decides where the platform's events (and, when allowed,
personal data) leave the company. Thin: parse, call a use case through the unit of work, answer.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from services.analytics.adapters import webhooks as store
from services.analytics.api import webhook_schemas as schemas
from services.analytics.api.deps import Now, Pool
from services.analytics.application import webhooks as use
from services.analytics.config import AnalyticsSettings
from shared.errors import InvalidInput, NotFound
from shared.web import IdempotencyKey, Principal, require
from shared.web.app import app_settings
from shared.web.auth import ADMIN
from shared.web.etag import IfMatch, etag_for
from shared.web.paging import Cursor, Limit
from shared.web.responses import run_and_respond

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

Admin = Annotated[Principal, Depends(require(ADMIN))]
SUBSCRIPTION = "/subscriptions/{subscription_id}"


async def _settings(request: Request) -> AnalyticsSettings:
    return app_settings(request.app, AnalyticsSettings)


Settings = Annotated[AnalyticsSettings, Depends(_settings)]


def _cursor(value: int | str) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def _from_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("cursor is not a next_cursor this list answered", field="cursor") from None


def _seq_cursor(cursor: str | None) -> int | None:
    text = _from_cursor(cursor)
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput("cursor is not a next_cursor this list answered", field="cursor")
    return int(text)


def _id_cursor(cursor: str | None) -> UUID | None:
    text = _from_cursor(cursor)
    try:
        return None if text is None else UUID(text)
    except ValueError:
        raise InvalidInput("cursor is not a next_cursor this list answered", field="cursor") from None


@router.post("/subscriptions", status_code=201, response_model=schemas.SubscriptionWithSecret)
async def create_subscription(body: schemas.SubscriptionCreate, request: Request, principal: Admin, now: Now,
                              settings: Settings, idempotency: IdempotencyKey) -> Response:
    """Subscribe an endpoint to events; the signing secret is in this answer only."""
    spec = use.SubscriptionSpec(url=body.url, event_types=list(body.event_types),
                                filter=[c.model_dump() for c in body.filter], personal_data=body.personal_data,
                                description=body.description)
    return await run_and_respond(
        request,
        lambda uow: use.create_subscription(uow, spec=spec, now=now, allow_private=settings.webhook_allow_private_urls),
        idempotency,
        location="/v1/webhooks/subscriptions/{id}",
    )


@router.get("/subscriptions", response_model=schemas.SubscriptionPage)
async def list_subscriptions(principal: Admin, pool: Pool, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    """Every subscription (never its secret), in a stable order."""
    async with pool.acquire() as conn:
        rows = await store.list_subscriptions(conn, after=_id_cursor(cursor), limit=limit + 1)
    items = [store.subscription_view(r) for r in rows[:limit]]
    return {"items": items, "next_cursor": _cursor(items[-1]["id"]) if len(rows) > limit else None}


@router.get(SUBSCRIPTION, response_model=schemas.SubscriptionRead)
async def get_subscription(subscription_id: UUID, principal: Admin, pool: Pool, response: Response) -> dict[str, Any]:
    """One subscription with its status and failure count (never its secret)."""
    async with pool.acquire() as conn:
        row = await store.subscription(conn, subscription_id)
    if row is None:
        raise NotFound(f"no webhook subscription {subscription_id}")
    response.headers["ETag"] = etag_for(row["version"])
    return store.subscription_view(row)


@router.patch(SUBSCRIPTION, response_model=schemas.SubscriptionRead)
async def update_subscription(subscription_id: UUID, body: schemas.SubscriptionUpdate, request: Request,
                              principal: Admin, now: Now, settings: Settings, expected: IfMatch) -> Response:
    """Change a subscription; `status: active` re-enables a disabled endpoint and its waiting deliveries."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "filter" in changes:
        changes["filter"] = [c.model_dump() for c in body.filter or []]
    return await run_and_respond(request, lambda uow: use.update_subscription(
        uow, subscription_id=subscription_id, changes=changes, expected_version=expected, now=now,
        allow_private=settings.webhook_allow_private_urls))


@router.delete(SUBSCRIPTION, status_code=204)
async def delete_subscription(subscription_id: UUID, request: Request, principal: Admin, expected: IfMatch) -> Response:
    """Remove a subscription with its delivery log; nothing more is sent to it."""
    return await run_and_respond(request, lambda uow: use.delete_subscription(
        uow, subscription_id=subscription_id, expected_version=expected))


@router.post(SUBSCRIPTION + "/secret", response_model=schemas.SubscriptionWithSecret)
async def rotate_secret(subscription_id: UUID, request: Request, principal: Admin, now: Now, settings: Settings,
                        expected: IfMatch) -> Response:
    """A new signing secret (shown once); the old one keeps signing beside it for the grace period."""
    grace = timedelta(hours=settings.analytics_webhook_secret_grace_hours)
    return await run_and_respond(request, lambda uow: use.rotate_secret(
        uow, subscription_id=subscription_id, expected_version=expected, now=now, grace=grace))


@router.get(SUBSCRIPTION + "/deliveries", response_model=schemas.DeliveryPage)
async def list_deliveries(
    subscription_id: UUID,
    principal: Admin,
    pool: Pool,
    status: Annotated[Literal["pending", "delivered", "dead"] | None, Query(description="Only this status.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The delivery log, newest first: every attempt with its status code and latency."""
    return await _delivery_page(pool, subscription_id, status, limit, cursor)


@router.get(SUBSCRIPTION + "/deliveries/{delivery_id}", response_model=schemas.DeliveryRead)
async def get_delivery(subscription_id: UUID, delivery_id: UUID, principal: Admin, pool: Pool) -> dict[str, Any]:
    """One delivery with its attempts and the payload (personal values never shown here)."""
    async with pool.acquire() as conn:
        row = await store.delivery(conn, subscription_id, delivery_id)
    if row is None:
        raise NotFound(f"no delivery {delivery_id} of webhook subscription {subscription_id}")
    return use.delivery_view(row, with_payload=True)


@router.get(SUBSCRIPTION + "/dead-letters", response_model=schemas.DeliveryPage)
async def list_dead_letters(subscription_id: UUID, principal: Admin, pool: Pool, limit: Limit = 50,
                            cursor: Cursor = None) -> dict[str, Any]:
    """Deliveries given up after the last attempt, newest first."""
    return await _delivery_page(pool, subscription_id, "dead", limit, cursor)


@router.post(SUBSCRIPTION + "/dead-letters/redeliver", response_model=schemas.Requeued)
async def redeliver_dead_letters(subscription_id: UUID, request: Request, principal: Admin, now: Now) -> Response:
    """Put every dead-lettered delivery back in line (attempts start again; the log is kept)."""
    return await run_and_respond(request, lambda uow: use.redeliver_dead_letters(
        uow, subscription_id=subscription_id, now=now))


@router.post(SUBSCRIPTION + "/replays", status_code=202, response_model=schemas.ReplayRead)
async def request_replay(subscription_id: UUID, body: schemas.ReplayCreate, request: Request, principal: Admin,
                         now: Now, idempotency: IdempotencyKey) -> Response:
    """Send every wanted event since an instant again, read back from the topics (asynchronous)."""
    return await run_and_respond(request, lambda uow: use.request_replay(
        uow, subscription_id=subscription_id, since=body.since, now=now), idempotency,
        location="/v1/webhooks/subscriptions/{id}/replays")


@router.get(SUBSCRIPTION + "/replays", response_model=schemas.ReplayPage)
async def list_replays(subscription_id: UUID, principal: Admin, pool: Pool, limit: Limit = 50) -> dict[str, Any]:
    """The subscription's replays, newest first, with their progress."""
    async with pool.acquire() as conn:
        if await store.subscription(conn, subscription_id) is None:
            raise NotFound(f"no webhook subscription {subscription_id}")
        rows = await store.replays(conn, subscription_id, limit)
    return {"items": [use.replay_view(r) for r in rows]}


async def _delivery_page(pool: Any, subscription_id: UUID, status: str | None, limit: int,
                         cursor: str | None) -> dict[str, Any]:
    before = _seq_cursor(cursor)
    async with pool.acquire() as conn:
        if await store.subscription(conn, subscription_id) is None:
            raise NotFound(f"no webhook subscription {subscription_id}")
        rows = await store.deliveries(conn, subscription_id, status=status, before=before, limit=limit + 1)
    items = [use.delivery_view(r) for r in rows[:limit]]
    return {"items": items, "next_cursor": _cursor(rows[limit - 1]["seq"]) if len(rows) > limit else None}
