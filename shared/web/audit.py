"""The audit trail (issue 20.4): who did what to a customer, a ticket or a campaign, and when.

Read from the events, not from a second log that could disagree with them. Every event a command
appends records its actor (the bearer token's subject; for the console, the signed-in person) in the
event store's ``metadata`` and, on Kafka, in the ``c360actor`` extension. Each service answers for its
own event store at ``GET /v1/internal/audit`` (service scope ``keys:read``, like the export parts: no
service reads another's database); the customer service's ``GET /v1/audit`` (``audit:read``, which
``admin`` has) asks the other three, merges the four answers in time order and pages through them.

Reading personal data is recorded too, as an event: ``PersonalDataViewed`` is appended by the service
that served the read, before the answer leaves, so a read that cannot be recorded is not served. Those
events stay in the serving service's event store (they are not domain facts other services react to),
where the trail finds them like any other.

An entry never carries the event's data, which may hold personal data: it names what happened (the
event type), to what (stream and subject), by whom, when, and in which conversation (correlation id).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final
from uuid import UUID

import asyncpg
import httpx
from fastapi import APIRouter, Depends, Query, Request

from shared.contracts.privacy import PersonalDataViewName
from shared.errors import DependencyUnavailable, InvalidInput
from shared.events.envelope import format_time, parse_time
from shared.web.auth import Principal, require
from shared.web.service_token import ServiceToken
from shared.web.types import Instant
from shared.web.view_log import ViewLog

PART_ROUTE: Final = "/v1/internal/audit"
"""Where every service answers for its own event store (scope ``keys:read``)."""
AUDIT_SCOPE: Final = "audit:read"
MAX_LIMIT: Final = 500
ATTEMPTS: Final = 3
PART_TIMEOUT: Final = 30.0


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: entries are ordered by (occurred_at, event_id) in every service and merged so."""

    occurred_at: datetime
    event_id: UUID

    def encode(self) -> str:
        raw = f"{self.occurred_at.isoformat()}|{self.event_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor a previous page gave; anything else is a 422 (never a 500)."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            moment, event_id = raw.split("|")
            return cls(parse_time(moment), UUID(event_id))
        except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
            raise InvalidInput("cursor is not one this API gave", field="cursor") from None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """What to look for. At least one of customer, ticket, campaign or actor: a trail is about someone."""

    customer_id: UUID | None = None
    ticket_id: UUID | None = None
    campaign_id: UUID | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: Cursor | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if self.customer_id is None and self.ticket_id is None and self.campaign_id is None and not self.actor:
            raise InvalidInput("name a customer_id, ticket_id, campaign_id or actor")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise InvalidInput("until must be after since", field="until")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")

    def params(self) -> dict[str, str]:
        """The query as the internal route takes it (what each service is asked)."""
        values = {
            "customer_id": self.customer_id, "ticket_id": self.ticket_id, "campaign_id": self.campaign_id,
            # isoformat, not format_time: it keeps the offset as given and pads every year to four digits
            "actor": self.actor, "since": self.since and self.since.isoformat(),
            "until": self.until and self.until.isoformat(), "cursor": self.after and self.after.encode(),
            "limit": self.limit,
        }
        return {k: str(v) for k, v in values.items() if v is not None}


def where_clause(query: AuditQuery) -> tuple[str, list[Any]]:
    """The filter over ``events`` and its arguments, with only the conditions asked (so indexes serve)."""
    conditions: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if query.customer_id is not None:
        conditions.append(f"subject = {arg(str(query.customer_id))}")
    if query.ticket_id is not None:
        conditions.append(f"stream_id = {arg(str(query.ticket_id))}")
    if query.campaign_id is not None:
        value = arg(str(query.campaign_id))
        conditions.append(f"(stream_id = {value} or subject = {value})")
    if query.actor:
        conditions.append(f"metadata->>'actor' = {arg(query.actor)}")
    if query.since is not None:
        conditions.append(f"occurred_at >= {arg(query.since)}")
    if query.until is not None:
        conditions.append(f"occurred_at < {arg(query.until)}")
    if query.after is not None:
        conditions.append(f"(occurred_at, event_id) > ({arg(query.after.occurred_at)}, {arg(query.after.event_id)})")
    return " and ".join(conditions), args


async def own_entries(conn: asyncpg.Connection, service: str, query: AuditQuery) -> list[dict[str, Any]]:
    """This service's entries for ``query``, oldest first, at most ``query.limit``."""
    where, args = where_clause(query)
    rows = await conn.fetch(
        "select event_id, stream_id, stream_type, event_type, subject, occurred_at, recorded_at, metadata"
        f" from events where {where} order by occurred_at, event_id limit {query.limit}",
        *args,
    )
    return [entry(service, row) for row in rows]


def entry(service: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """One event as the trail shows it: what, to what, by whom, when; never the event's data."""
    metadata = row["metadata"] or {}
    return {
        "occurred_at": format_time(row["occurred_at"]),
        "recorded_at": format_time(row["recorded_at"]),
        "service": service,
        "event_id": str(row["event_id"]),
        "event_type": row["event_type"],
        "stream_type": row["stream_type"],
        "stream_id": row["stream_id"],
        "subject": row["subject"],
        "actor": metadata.get("actor"),
        "correlation_id": metadata.get("correlation_id"),
        "causation_id": metadata.get("causation_id"),
        "imported_history": metadata.get("history") == "import",
    }


def _order(item: Mapping[str, Any]) -> tuple[datetime, UUID]:
    return parse_time(item["occurred_at"]), UUID(item["event_id"])


def merge(parts: Sequence[Sequence[dict[str, Any]]], limit: int) -> dict[str, Any]:
    """One page from every service's first ``limit`` entries: the ``limit`` oldest, and the next cursor.

    Each part is already the service's oldest ``limit`` after the cursor, so the merged page can lack
    nothing: an entry left out of a part is later than that part's last one, hence than the page's.
    """
    everything = sorted((e for part in parts for e in part), key=_order)
    page = everything[:limit]
    more = len(everything) > limit or any(len(part) == limit for part in parts)
    after = Cursor(*_order(page[-1])).encode() if page and more else None
    return {"entries": page, "next_cursor": after}


# --- HTTP -----------------------------------------------------------------------------------------


async def viewed(request: Request, customer_id: UUID | str, view: PersonalDataViewName) -> None:
    """Record that the caller is being shown ``view`` of a customer's personal data, before it is sent.

    Appended to the serving service's event store without a topic, by the app's ``ViewLog``
    (``shared.web.view_log``, made on first use from ``app.state``: pool, store, clock): if it cannot
    be recorded, the caller gets a 503.
    """
    state = request.app.state
    log: ViewLog | None = getattr(state, "view_log", None)
    if log is None or log.pool is not state.pool:
        log = state.view_log = ViewLog(state.pool, state.store)
    await log.record(customer_id=customer_id, view=view, now=state.clock.now())



async def query_of(
    customer_id: Annotated[UUID | None, Query(description="Events about this customer (their subject).")] = None,
    ticket_id: Annotated[UUID | None, Query(description="Events of this ticket.")] = None,
    campaign_id: Annotated[UUID | None, Query(description="Events of this campaign.")] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                                       description="What this person or client did (a token subject).")] = None,
    since: Annotated[Instant | None, Query(description="Only from this instant (inclusive).")] = None,
    until: Annotated[Instant | None, Query(description="Only before this instant.")] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> AuditQuery:
    """The query parameters of both audit routes, validated into an ``AuditQuery`` (422 otherwise)."""
    return AuditQuery(customer_id=customer_id, ticket_id=ticket_id, campaign_id=campaign_id, actor=actor,
                      since=since, until=until, after=Cursor.decode(cursor) if cursor else None, limit=limit)


_ENTRY_EXAMPLE = {
    "occurred_at": "2026-12-05T18:00:00.000000Z", "recorded_at": "2026-12-05T18:00:00.004000Z",
    "service": "ticketing", "event_id": "0190a4a6-0000-7000-8000-0000000000e1", "event_type": "TicketResolved",
    "stream_type": "ticket", "stream_id": "0190a4a6-0000-7000-8000-0000000000f1",
    "subject": "0190a4a6-0000-7000-8000-000000000001", "actor": "agent-ayse",
    "correlation_id": "4bf92f3577b34da6a3ce929d0e0e4736", "causation_id": None, "imported_history": False,
}


def audit_part_router() -> APIRouter:
    """Every service's own part of the trail, from its event store (``app.state.pool``, ``app.state.store``)."""
    router = APIRouter(tags=["internal"])

    @router.get(PART_ROUTE, responses={200: {"content": {"application/json": {"example": {
        "service": "ticketing", "entries": [_ENTRY_EXAMPLE]}}}}})
    async def audit_part(
        request: Request, principal: Annotated[Principal, Depends(require("keys:read"))],
        query: Annotated[AuditQuery, Depends(query_of)],
    ) -> dict[str, Any]:
        """This service's events matching the query, oldest first (what ``GET /v1/audit`` merges).

        Name at least one of customer_id, ticket_id, campaign_id or actor (422 otherwise); until must be
        after since.
        """
        service = request.app.state.store.service
        async with request.app.state.pool.acquire() as conn:
            return {"service": service, "entries": await own_entries(conn, service, query)}

    return router


class AuditGatherer:
    """Asks every other service for its part of the trail (with a service token) and merges them."""

    def __init__(self, *, service: str, urls: Mapping[str, str], token: ServiceToken,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.service = service
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.token = token
        self.transport = transport

    async def page(self, conn: asyncpg.Connection, query: AuditQuery) -> dict[str, Any]:
        own = await own_entries(conn, self.service, query)
        async with httpx.AsyncClient(timeout=PART_TIMEOUT, transport=self.transport) as http:
            others = await asyncio.gather(*(self._part(http, name, url, query) for name, url in self.urls.items()))
        return merge([own, *others], query.limit)

    async def _part(self, http: httpx.AsyncClient, name: str, url: str, query: AuditQuery) -> list[dict[str, Any]]:
        last = ""
        for attempt in range(ATTEMPTS):
            try:
                answer = await http.get(url + PART_ROUTE, params=query.params(),
                                        headers={"Authorization": f"Bearer {await self.token.current()}"})
            except httpx.HTTPError as exc:
                last = f"unreachable ({type(exc).__name__})"
            else:
                if answer.status_code == 200:
                    entries: list[dict[str, Any]] = answer.json()["entries"]
                    return entries
                last = f"answered {answer.status_code}"
                if answer.status_code < 500:
                    break
            await asyncio.sleep(0.25 * 2**attempt)
        # A trail silently missing a service would tell an auditor nothing happened there.
        raise DependencyUnavailable(f"the {name} service's part of the audit trail could not be had: {last}",
                                 service=name)


def audit_router(gatherer_of: Callable[[Request], AuditGatherer]) -> APIRouter:
    """``GET /v1/audit``: the whole platform's trail, merged from every service's part."""
    router = APIRouter(tags=["audit"])

    @router.get("/v1/audit", responses={
        200: {"content": {"application/json": {"example": {"entries": [_ENTRY_EXAMPLE], "next_cursor": None}}}},
        503: {"description": "A service's part could not be had; no partial trail is answered."}})
    async def audit_trail(
        request: Request, principal: Annotated[Principal, Depends(require(AUDIT_SCOPE))],
        query: Annotated[AuditQuery, Depends(query_of)],
    ) -> dict[str, Any]:
        """Who did what to a customer, a ticket or a campaign, and when, across all four services.

        Name at least one of customer_id, ticket_id, campaign_id or actor (422 otherwise); until must be
        after since. Oldest first; pass ``next_cursor`` back as ``cursor`` for the next page (null on the
        last page).
        Reads of personal data (the 360, profiles, exports) appear as ``PersonalDataViewed``.
        """
        async with request.app.state.pool.acquire() as conn:
            return await gatherer_of(request).page(conn, query)

    return router
