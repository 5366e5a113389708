"""The read side: functions taking a connection and returning JSON-ready dicts.

Values are already in their wire form (ids as strings, money as ``"1890.00"``, RFC 3339 UTC times),
because the same dicts are stored as idempotent answers and replayed byte for byte.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from services.customer.domain.identity import RULES_STREAM, DuplicateRules, suggest
from services.customer.domain.model import (
    Identity,
    name_key,
    normalise_email,
    normalise_phone,
)
from services.customer.domain.notes import PENDING
from shared.contracts.customer import FollowUpState
from shared.errors import Gone, InvalidInput, NotFound
from shared.events.envelope import format_time
from shared.store.eventstore import EventStore

MAX_LIMIT = 200


def wire(value: Any) -> Any:
    """A database value in its JSON form."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [wire(v) for v in value]
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()}
    return value


def _row(record: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {k: wire(v) for k, v in record.items() if k not in skip}


def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([wire(p) for p in parts])).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    """The parts of a cursor this service handed out; 400-class ``InvalidInput`` for anything else."""
    if cursor is None:
        return None
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidInput("cursor is not one this service issued", field="cursor") from None
    if not isinstance(parts, list) or len(parts) != size:
        raise InvalidInput("cursor is not one this service issued", field="cursor")
    return parts


def _page(items: list[dict[str, Any]], limit: int, *cursor_of: str) -> dict[str, Any]:
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(*(items[-1][k] for k in cursor_of)) if more and items else None
    return {"items": items, "next_cursor": next_cursor}


_CUSTOMER_COLUMNS = """
    id, case when status = 'erased' then 'erased' when merged_into is not null then 'merged' else 'active' end
    as status, merged_into, name, email, phone, birth_date, address, timezone, relationship_type,
    acquisition_channel, referred_by, acquisition_cost, consents, interests, verified, account_manager_id,
    version, registered_at, updated_at
"""


async def customer(conn: asyncpg.Connection, customer_id: UUID) -> dict[str, Any] | None:
    """The customer's profile, or ``None`` when unknown (erased ones are returned with status erased)."""
    row = await conn.fetchrow(f"select {_CUSTOMER_COLUMNS} from customers where id = $1", customer_id)
    return None if row is None else _row(row)


async def visible_customer(conn: asyncpg.Connection, customer_id: UUID) -> dict[str, Any]:
    """The profile for a GET: 404 when unknown, 410 when erased."""
    found = await customer(conn, customer_id)
    if found is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if found["status"] == "erased":
        raise Gone(f"customer {customer_id} was erased")
    return found


async def search_customers(
    conn: asyncpg.Connection,
    *,
    email: str | None,
    phone: str | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Customers matching every given filter, oldest first (ids are time-ordered), cursor-paginated."""
    after = decode_cursor(cursor, 1)
    normalised_email = normalise_email(email) if email else None
    normalised_phone = normalise_phone(phone) if phone else None
    pattern = f"%{_like_escape(name_key(q))}%" if q and q.strip() else None
    rows = await conn.fetch(
        f"""select {_CUSTOMER_COLUMNS} from customers
            where status = 'active'
              and ($1::text is null or email = $1)
              and ($2::text is null or phone = $2)
              and ($3::text is null or name_key like $3)
              and ($4::uuid is null or id > $4)
            order by id limit $5""",
        normalised_email,
        normalised_phone,
        pattern,
        UUID(after[0]) if after else None,
        limit + 1,
    )
    return _page([_row(r) for r in rows], limit, "id")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_BOTH_ACTIVE = "a.status = 'active' and a.merged_into is null and b.status = 'active' and b.merged_into is null"

_PAIRS_SQL = f"""
with pairs as (
    -- Blocking keys only: the rules (``identity.suggest``) decide in Python. Exact emails share their
    -- canonical mailbox, so one join serves both email rules.
    select a.id as a_id, b.id as b_id from customers a join customers b
        on $3 and a.email_canonical = b.email_canonical and a.id < b.id
        where {_BOTH_ACTIVE}
    union
    select a.id, b.id from customers a join customers b on $4 and a.phone = b.phone and a.id < b.id
        where {_BOTH_ACTIVE}
    union
    -- Every pair sharing a birth date is scored, so any name threshold the rules set is honoured
    -- exactly (a trigram pre-filter would silently drop pairs a low threshold accepts).
    select a.id, b.id from customers a join customers b on $5 and a.birth_date = b.birth_date and a.id < b.id
        where {_BOTH_ACTIVE}
)
-- Back to the table by primary key (a join back to a materialised CTE has no index: a scan per pair).
select p.a_id, p.b_id, a.name as a_name, a.email as a_email, a.phone as a_phone,
       a.birth_date as a_birth_date, a.verified as a_verified, a.consents as a_consents, a.version as a_version,
       b.name as b_name, b.email as b_email, b.phone as b_phone, b.birth_date as b_birth_date,
       b.verified as b_verified, b.consents as b_consents, b.version as b_version
from pairs p join customers a on a.id = p.a_id join customers b on b.id = p.b_id
where ($1::uuid is null or (p.a_id, p.b_id) > ($1::uuid, $2::uuid))
order by p.a_id, p.b_id"""


async def duplicate_rules(conn: asyncpg.Connection, store: EventStore) -> DuplicateRules:
    """The current duplicate rules, from their own stream (the defaults before any change)."""
    return DuplicateRules.rehydrate(e.event for e in await store.load(conn, RULES_STREAM))


def rules_body(rules: DuplicateRules) -> dict[str, Any]:
    """The rules document as the API shows it: the rule set and the version to send in If-Match."""
    return {**rules.rules.model_dump(mode="json"), "version": rules.version}


async def duplicate_candidates(
    conn: asyncpg.Connection, store: EventStore, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Pairs of active customers the current duplicate rules suggest are one person, with the evidence.

    SQL proposes pairs in (customer_id, duplicate_id) order and the rules decide; pairs are read until
    the page is full, so a page is never short while more candidates exist.
    """
    current = await duplicate_rules(conn, store)
    rules = current.rules
    after = decode_cursor(cursor, 2)
    items: list[dict[str, Any]] = []
    # One execution streamed through a server-side cursor: most proposed pairs fail the rules, and
    # re-running the pair query per batch (each run joins and sorts every pair) made a page cost
    # O(pairs^2 / batch); streaming reads each pair once and stops as soon as the page is full.
    async with conn.transaction(readonly=True):
        async for r in conn.cursor(
            _PAIRS_SQL,
            UUID(after[0]) if after else None,
            UUID(after[1]) if after else None,
            rules.email,
            rules.phone,
            rules.name,
            prefetch=1000,
        ):
            left = Identity(r["a_name"], r["a_email"], r["a_phone"], r["a_birth_date"])
            right = Identity(r["b_name"], r["b_email"], r["b_phone"], r["b_birth_date"])
            found = suggest(left, right, rules)
            if found is not None:
                items.append({
                    "customer_id": str(r["a_id"]),
                    "duplicate_id": str(r["b_id"]),
                    "evidence": found.evidence,
                    "name_similarity": found.name_similarity,
                    "customer": _side(r, "a_"),
                    "duplicate": _side(r, "b_"),
                })
                if len(items) > limit:
                    break
    return {**_page(items, limit, "customer_id", "duplicate_id"), "rules_version": current.version}


def _side(row: asyncpg.Record, prefix: str) -> dict[str, Any]:
    """One record of a suggested pair: what an operator compares before merging (and whether both are verified)."""
    birth_date = row[prefix + "birth_date"]
    return {
        "name": row[prefix + "name"],
        "email": row[prefix + "email"],
        "phone": row[prefix + "phone"],
        "birth_date": birth_date.isoformat() if birth_date else None,
        "verified": list(row[prefix + "verified"]),
        "consents": row[prefix + "consents"],
        "version": row[prefix + "version"],
    }


_ORDER_COLUMNS = """
    id, customer_id, status, lines, total, cost, margin, currency, channel, offer_code,
    promised_delivery_date, placed_at, shipped_at, delivered_at, cancelled_at, returned_at, version
"""


async def order(conn: asyncpg.Connection, order_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"select {_ORDER_COLUMNS} from orders where id = $1", order_id)
    return None if row is None else _row(row)


async def customer_orders(
    conn: asyncpg.Connection, *, customer_id: UUID, status: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """The customer's orders, newest first, including those of duplicates merged into them."""
    after = decode_cursor(cursor, 2)
    rows = await conn.fetch(
        f"""select {_ORDER_COLUMNS} from orders
            where customer_id in (select id from customers where id = $1 or merged_into = $1)
              and ($2::text is null or status = $2)
              and ($3::timestamptz is null or (placed_at, id) < ($3::timestamptz, $4::uuid))
            order by placed_at desc, id desc limit $5""",
        customer_id,
        status,
        datetime.fromisoformat(after[0].replace("Z", "+00:00")).astimezone(UTC) if after else None,
        UUID(after[1]) if after else None,
        limit + 1,
    )
    return _page([_row(r) for r in rows], limit, "placed_at", "id")


_INVOICE_COLUMNS = """
    id, order_id, customer_id, amount, paid, amount - paid as outstanding, currency, due_date, issued_at,
    case when paid >= amount then 'paid' when overdue_at is not null then 'overdue' else 'open' end as status,
    version
"""


async def invoice(conn: asyncpg.Connection, invoice_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"select {_INVOICE_COLUMNS} from invoices where id = $1", invoice_id)
    return None if row is None else _row(row)


async def payment(conn: asyncpg.Connection, payment_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """select p.id, p.invoice_id, p.customer_id, p.amount, p.method, p.paid_at,
                  i.amount - i.paid as outstanding
           from payments p join invoices i on i.id = p.invoice_id where p.id = $1""",
        payment_id,
    )
    return None if row is None else _row(row)


async def export(conn: asyncpg.Connection, store: EventStore, customer_id: UUID, *, now: datetime) -> dict[str, Any]:
    """Everything this service holds about a customer (right of access), event history included.

    Duplicates merged into the customer are the same person, so their profiles, orders, billing and
    events are part of the export too (and leave it again if the merge is undone).
    """
    profile = await visible_customer(conn, customer_id)
    duplicate_rows = await conn.fetch(
        f"select {_CUSTOMER_COLUMNS} from customers where merged_into = $1 order by id", customer_id
    )
    people = [customer_id, *(r["id"] for r in duplicate_rows)]
    orders = await conn.fetch(
        f"select {_ORDER_COLUMNS} from orders where customer_id = any($1::uuid[]) order by placed_at, id", people
    )
    invoices = await conn.fetch(
        f"select {_INVOICE_COLUMNS} from invoices where customer_id = any($1::uuid[]) order by issued_at, id",
        people,
    )
    payments = await conn.fetch(
        """select id, invoice_id, customer_id, amount, method, paid_at from payments
           where customer_id = any($1::uuid[]) order by paid_at, id""",
        people,
    )
    history = []
    for person in people:
        history += await store.load_subject(conn, str(person))
    history.sort(key=lambda e: e.position)
    return {
        "customer": profile,
        "merged_duplicates": [_row(r) for r in duplicate_rows],
        "orders": [_row(r) for r in orders],
        "invoices": [_row(r) for r in invoices],
        "payments": [_row(r) for r in payments],
        "events": [
            {
                "event_id": str(e.event_id),
                "type": e.event_type,
                "subject": e.subject,
                "stream_id": e.stream_id,
                "occurred_at": format_time(e.occurred_at),
                "data": e.event.model_dump(mode="json"),
            }
            for e in history
        ],
        "exported_at": format_time(now),
    }


async def erasure_status(conn: asyncpg.Connection, customer_id: UUID) -> dict[str, Any]:
    """The erasure's ledger: each service pending or done, when it finished and what it cleaned.

    A customer never erased has an empty ledger (``requested_at`` null), not a 404: the customer exists,
    and a 404 under an existing customer would read as "this customer is gone"."""
    rows = await conn.fetch(
        """select service, status, requested_at, finished_at, details from erasure_status
           where customer_id = $1 order by service = 'customer' desc, service""",
        customer_id,
    )
    if not rows:
        known = await conn.fetchval("select true from customers where id = $1", customer_id)
        if not known:
            raise NotFound(f"customer {customer_id} does not exist")
        return {"customer_id": str(customer_id), "requested_at": None, "complete": False, "completed_at": None,
                "services": []}
    services = [
        {
            "service": r["service"],
            "status": r["status"],
            "finished_at": None if r["finished_at"] is None else format_time(r["finished_at"]),
            "details": r["details"],
        }
        for r in rows
    ]
    finished = [r["finished_at"] for r in rows]
    complete = all(r["status"] == "done" for r in rows)
    return {
        "customer_id": str(customer_id),
        "requested_at": format_time(min(r["requested_at"] for r in rows)),
        "complete": complete,
        "completed_at": format_time(max(f for f in finished if f is not None)) if complete else None,
        "services": services,
    }


# --- notes and follow-ups -------------------------------------------------------------------------

_FOLLOW_UP_COLUMNS = """f.id, f.customer_id, f.note_id, f.owner, f.state, f.due_at, f.scheduled_by, f.scheduled_at,
    f.updated_at, f.version"""


async def note(conn: asyncpg.Connection, note_id: UUID) -> dict[str, Any] | None:
    """One note with its follow-up (``None`` when it asked for none); ``None`` for no such note."""
    row = await conn.fetchrow("select id, customer_id, text, author, written_at from customer_notes where id = $1",
                              note_id)
    if row is None:
        return None
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


async def follow_up(conn: asyncpg.Connection, follow_up_id: UUID) -> dict[str, Any] | None:
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
