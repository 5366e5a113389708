"""Read side: campaigns, their performance, surveys. Plain dicts shaped like the API's XRead schemas."""

from __future__ import annotations

import base64
import uuid
from decimal import Decimal
from typing import Any

import asyncpg

from shared.errors import InvalidInput, NotFound

_CENT = Decimal("0.01")


def _parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what} {value} not found") from None


def _row_to_read(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "status": row["status"],
        "version": row["version"],
        "created_at": row["created_at"].isoformat().replace("+00:00", "Z"),
        "updated_at": row["updated_at"].isoformat().replace("+00:00", "Z"),
        **row["definition"],
    }


async def campaign_read(conn: asyncpg.Connection, campaign_id: str) -> dict[str, Any]:
    """One campaign with its status and version; 404 when unknown."""
    row = await conn.fetchrow("select * from campaigns where id = $1", _parse_uuid(campaign_id, "campaign"))
    if row is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return _row_to_read(row)


async def list_campaigns(
    conn: asyncpg.Connection, *, status: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Campaigns newest first, cursor-paginated on (created_at, id)."""
    after: tuple[str, str] | None = None
    if cursor:
        try:
            created, cid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
            after = (created, str(uuid.UUID(cid)))
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("cursor is not one this API handed out", field="cursor") from None
    rows = await conn.fetch(
        """select * from campaigns where ($1::text is null or status = $1)
             and ($2::text is null or (created_at, id) < ($2::text::timestamptz, $3::text::uuid))
           order by created_at desc, id desc limit $4""",
        status, after[0] if after else None, after[1] if after else None, limit + 1,
    )
    items = [_row_to_read(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = base64.urlsafe_b64encode(f"{last['created_at'].isoformat()}|{last['id']}".encode()).decode()
    return {"items": items, "next_cursor": next_cursor}


def _money(value: Decimal | None) -> str:
    return f"{(value or Decimal('0')).quantize(_CENT)}"


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


async def campaign_performance(conn: asyncpg.Connection, campaign_id: str) -> dict[str, Any]:
    """Sent, suppressed by reason, held out, redeemed, conversion rates, uplift, revenue, margin, cost, ROI."""
    cid = _parse_uuid(campaign_id, "campaign")
    if not await conn.fetchval("select exists(select 1 from campaigns where id = $1)", cid):
        raise NotFound(f"campaign {campaign_id} not found")
    outcomes = await conn.fetch(
        "select outcome, reason, count(*) as n from decisions where campaign_id = $1 group by outcome, reason", cid
    )
    sent = sum(r["n"] for r in outcomes if r["outcome"] == "sent")
    held_out = sum(r["n"] for r in outcomes if r["outcome"] == "held_out")
    suppressed: dict[str, int] = {}
    for r in outcomes:
        if r["outcome"] in ("suppressed", "deferred"):
            suppressed[r["reason"]] = suppressed.get(r["reason"], 0) + r["n"]
    totals = await conn.fetchrow(
        """select
             (select count(*) from offers where campaign_id = $1 and redeemed_at is not null) as redeemed,
             (select coalesce(sum(total), 0) from offers where campaign_id = $1 and redeemed_at is not null) as revenue,
             (select coalesce(sum(margin), 0) from offers where campaign_id = $1 and redeemed_at is not null) as margin,
             (select count(*) from conversions where campaign_id = $1 and grp = 'sent') as treated_conv,
             (select count(*) from conversions where campaign_id = $1 and grp = 'held_out') as control_conv,
             (select coalesce(spent, 0) from campaign_budgets where campaign_id = $1) as cost""",
        cid,
    )
    treated = _rate(totals["treated_conv"], sent)
    control = _rate(totals["control_conv"], held_out)
    cost: Decimal = totals["cost"] or Decimal("0")
    margin: Decimal = totals["margin"]
    gain = margin if margin else totals["revenue"]
    return {
        "campaign_id": campaign_id,
        "sent": sent,
        "suppressed": suppressed,
        "held_out": held_out,
        "redeemed": totals["redeemed"],
        "conversion_rate_treated": treated,
        "conversion_rate_control": control,
        "uplift": None if treated is None or control is None else round(treated - control, 4),
        "attributed_revenue": _money(totals["revenue"]),
        "attributed_margin": _money(margin),
        "cost": _money(cost),
        "roi": None if cost == 0 else round(float((gain - cost) / cost), 4),
    }
