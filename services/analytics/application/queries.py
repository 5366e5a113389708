"""Read side: the 360 document, time travel, the timeline, lists and KPIs, from read models only.

The live 360 is one indexed row read plus one co-purchase lookup; time travel refolds the
customer's stored events up to the instant with the same fold as the projection; KPIs aggregate
the KPI tables (never the event log).
"""

from __future__ import annotations

import base64
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
import orjson

from services.analytics.adapters import readmodel as rm
from services.analytics.application import views
from services.analytics.domain import formulas as f
from services.analytics.domain import model
from services.analytics.domain.rules import AnalyticsRules
from shared.errors import InvalidInput, NotFound


async def customer_360(
    conn: asyncpg.Connection, customer_id: str, *, rules: AnalyticsRules, now: datetime, as_of: datetime | None = None
) -> dict[str, Any]:
    """The 360 document now, or as it was at ``as_of`` (refolded from the stored events).

    Time-based rules are evaluated now (never before the last event), or at ``as_of``; an ``as_of``
    in the future answers what is known now, not a forecast of who will have gone quiet by then.
    """
    if as_of is None:
        stored = await rm.load_view(conn, customer_id)
        if stored is None:
            raise NotFound(f"no customer {customer_id} is known to analytics")
        state = stored.state
        merged_into = stored.merged_into
    else:
        state, merged_into = await _state_as_of(conn, customer_id, as_of, rules)
    moment = max(now, model.parse_iso(state["last_event_at"])) if state["last_event_at"] else now
    if as_of is not None:
        moment = min(as_of, moment)
    co = await rm.co_purchases_for(conn, model.owned_products(state)) if state["orders"] else {}
    recommendations = f.recommend(model.owned_products(state), co, rules.recommendations_limit)
    view = views.render(state, now=moment, rules=rules, merged_into=merged_into, recommendations=recommendations)
    view["as_of"] = model.iso(as_of) if as_of else None
    return view


async def _state_as_of(
    conn: asyncpg.Connection, customer_id: str, as_of: datetime, rules: AnalyticsRules
) -> tuple[model.State, str | None]:
    """The state the live projection held at ``as_of``, and whom the customer was merged into then.

    Whose events a view holds depends on the merges so far: the merges up to ``as_of`` say which
    duplicates were folded into the customer then (their events count, as live), or that the
    customer itself had been merged away (an empty view pointing at the survivor, as live).
    """
    aliases = model.aliases_at(await rm.merges_concerning(conn, customer_id, up_to=as_of))
    survivor = aliases.get(customer_id)
    if survivor is not None:
        return model.empty_state(customer_id), survivor
    members = {customer_id} | {duplicate for duplicate, owner in aliases.items() if owner == customer_id}
    history = await rm.facts_of_origins(conn, members, up_to=as_of)
    if not history:
        raise NotFound(f"analytics knew nothing about customer {customer_id} at {model.iso(as_of)}")
    return model.fold(customer_id, history, rules), None


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def _decode_cursor(cursor: str, size: int) -> list[Any]:
    """The cursor's values; the last one is always a customer or event id (a UUID, checked here)."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise InvalidInput("cursor is not one this API issued", field="cursor") from None
    if not isinstance(values, list) or len(values) != size or rm.uuid_or_none(values[-1]) is None:
        raise InvalidInput("cursor is not one this API issued", field="cursor")
    return [*values[:-1], str(rm.uuid_or_none(values[-1]))]


async def timeline(
    conn: asyncpg.Connection,
    customer_id: str,
    *,
    types: list[str] | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Every event of every domain for the customer, newest first, keyset-paginated."""
    after_time: datetime | None = None
    after_id: str | None = None
    if cursor:
        raw_time, after_id = _decode_cursor(cursor, 2)
        try:
            after_time = model.parse_iso(str(raw_time))
        except ValueError:
            raise InvalidInput("cursor is not one this API issued", field="cursor") from None
    rows = await conn.fetch(
        """select event_id::text as id, event_type, domain, occurred_at, origin::text as origin, data,
                  correlation_id
           from customer_events
           where customer_id = $1
             and ($2::text[] is null or event_type = any($2::text[]))
             and ($3::timestamptz is null or (occurred_at, event_id) < ($3, $4::uuid))
           order by occurred_at desc, event_id desc
           limit $5""",
        customer_id,
        types,
        after_time,
        after_id,
        limit + 1,
    )
    items = [
        {
            "event_id": r["id"],
            "type": r["event_type"],
            "domain": r["domain"],
            "time": model.iso(r["occurred_at"]),
            "customer_id": r["origin"],
            "correlation_id": r["correlation_id"],
            "data": {
                k: (None if isinstance(v, str) and v.startswith(model.ENCRYPTED_PREFIX) else v)
                for k, v in r["data"].items()
            },
        }
        for r in rows[:limit]
    ]
    next_cursor = _encode_cursor([items[-1]["time"], items[-1]["event_id"]]) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


SORTS = {
    "-clv": ("clv", "desc"),
    "clv": ("clv", "asc"),
    "-last_event_at": ("last_event_at", "desc"),
    "-churn_risk": ("churn_score", "desc"),
}


async def list_customers(
    conn: asyncpg.Connection,
    *,
    segment: str | None,
    lifecycle_stage: str | None,
    churn_band: str | None,
    q: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Customers matching the filters, sorted (CLV by default), keyset-paginated."""
    column, direction = SORTS[sort]
    comparison = "<" if direction == "desc" else ">"
    after_value: Any = None
    after_id: str | None = None
    if cursor:
        raw, after_id = _decode_cursor(cursor, 2)
        after_value = _cursor_value(column, raw)
    null_fill = {"clv": "0", "last_event_at": "'-infinity'::timestamptz", "churn_score": "-1"}[column]
    sort_expr = f"coalesce({column}, {null_fill})"
    rows = await conn.fetch(
        f"""select customer_id::text as id, status, lifecycle_stage, churn_band, churn_score, value_tier, clv,
                   segments, last_event_at, {sort_expr} as sort_value
            from customer_views
            where merged_into is null
              and ($1::text is null or segments @> array[$1::text])
              and ($2::text is null or lifecycle_stage = $2)
              and ($3::text is null or churn_band = $3)
              and ($4::text is null or name_search like $4 || '%' escape '\\' or customer_id::text = $5)
              and ($6::text is null or ({sort_expr}, customer_id) {comparison} ($7, $6::uuid))
            order by {sort_expr} {direction}, customer_id {direction}
            limit $8""",
        segment,
        lifecycle_stage,
        churn_band,
        _like_prefix(q.lower()) if q else None,
        q.lower() if q else None,
        after_id,
        after_value,
        limit + 1,
    )
    items = [
        {
            "customer_id": r["id"],
            "status": r["status"],
            "lifecycle_stage": r["lifecycle_stage"],
            "churn_band": r["churn_band"],
            "churn_risk": None if r["churn_score"] is None else str(r["churn_score"]),
            "value_tier": r["value_tier"],
            "clv": f"{r['clv']:.2f}",
            "segments": list(r["segments"]),
            "last_event_at": model.iso(r["last_event_at"]) if r["last_event_at"] else None,
        }
        for r in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        value = last["sort_value"]
        next_cursor = _encode_cursor([model.iso(value) if isinstance(value, datetime) else str(value), last["id"]])
    return {"items": items, "next_cursor": next_cursor}


CURSOR_NUMBER_LIMIT = Decimal("1e30")
"""Larger sort values never occur (CLV is numeric(18, 2), churn scores are 0-1): such a cursor is forged."""


def _like_prefix(text: str) -> str:
    """``text`` matched literally by LIKE: a name with ``%`` or ``_`` is not a wildcard."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _cursor_value(column: str, raw: Any) -> Any:
    try:
        if column == "last_event_at":
            return model.parse_iso(str(raw))
        value = Decimal(str(raw))
        if not value.is_finite() or abs(value) >= CURSOR_NUMBER_LIMIT:
            raise ValueError(raw)
        return value
    except (ValueError, ArithmeticError):
        raise InvalidInput("cursor is not one this API issued", field="cursor") from None


# --- KPIs ----------------------------------------------------------------------------------------

PERIODS = {"day", "week", "month", "quarter", "year"}


def _pct(part: int, whole: int) -> str | None:
    if not whole:
        return None
    return str((Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


KPI_SEGMENTS = ("(case when v.status = 'erased' then array(select jsonb_array_elements_text("
                "coalesce(v.state->'segments_at_erasure', '[]'::jsonb))) else v.segments end)")
"""The segments a view's answers count in for NPS per segment: the customer's current segments, and
for an erased customer the segments held when erased (``model._erased``), so erasure changes no NPS.
``v`` is the ``customer_views`` row."""


def _nps_block(promoters: int, passives: int, detractors: int) -> dict[str, Any]:
    result = f.NpsResult(promoters, passives, detractors)
    return {
        "nps": None if result.nps is None else str(result.nps),
        "promoters": promoters,
        "passives": passives,
        "detractors": detractors,
        "responses": result.responses,
    }


async def kpi_nps(
    conn: asyncpg.Connection, *, start: datetime, end: datetime, period: str, rules: AnalyticsRules
) -> dict[str, Any]:
    """NPS for the range, by period and by (current) segment; erased customers by their segments when erased."""
    category = """case when score >= $3 then 'promoter' when score >= $4 then 'passive' else 'detractor' end"""
    rows = await conn.fetch(
        f"""select date_trunc($5, answered_at) as period, {category} as category, count(*) as n
            from survey_answers where kind = 'nps' and answered_at >= $1 and answered_at < $2
            group by 1, 2 order by 1""",
        start,
        end,
        rules.nps_promoter_min,
        rules.nps_passive_min,
        period,
    )
    by_period: dict[datetime, dict[str, int]] = {}
    totals = {"promoter": 0, "passive": 0, "detractor": 0}
    for r in rows:
        by_period.setdefault(r["period"], {"promoter": 0, "passive": 0, "detractor": 0})[r["category"]] += r["n"]
        totals[r["category"]] += r["n"]
    segment_rows = await conn.fetch(
        f"""select s.segment, {category} as category, count(*) as n
            from survey_answers a join customer_views v on v.customer_id = a.customer_id
            cross join lateral unnest({KPI_SEGMENTS}) as s(segment)
            where a.kind = 'nps' and a.answered_at >= $1 and a.answered_at < $2 and $5::text is not null
            group by 1, 2""",
        start,
        end,
        rules.nps_promoter_min,
        rules.nps_passive_min,
        period,
    )
    by_segment: dict[str, dict[str, int]] = {}
    for r in segment_rows:
        by_segment.setdefault(r["segment"], {"promoter": 0, "passive": 0, "detractor": 0})[r["category"]] += r["n"]
    return {
        **_nps_block(totals["promoter"], totals["passive"], totals["detractor"]),
        "from": model.iso(start),
        "to": model.iso(end),
        "by_period": [
            {"period": model.iso(p), **_nps_block(c["promoter"], c["passive"], c["detractor"])}
            for p, c in sorted(by_period.items())
        ],
        "by_segment": [
            {"segment": s, **_nps_block(c["promoter"], c["passive"], c["detractor"])}
            for s, c in sorted(by_segment.items())
        ],
    }


async def kpi_churn(conn: asyncpg.Connection, *, start: datetime, end: datetime) -> dict[str, Any]:
    """Monthly churn rate: customers active at the month's start who reached dissolution in it.

    Active at the start: a customer since before it, not inside a dissolution episode then. Every
    episode counts (``dissolutions``), so a customer who comes back later still churned that month.
    """
    rows = await conn.fetch(
        """with months as (
               select generate_series(date_trunc('month', $1::timestamptz), $2::timestamptz - interval '1 microsecond',
                                      interval '1 month') as month),
           active as (
               select m.month, v.dissolutions && tstzrange(m.month, m.month + interval '1 month') as churned
               from months m join customer_views v
                 on v.merged_into is null and v.customer_since < m.month
                and not v.dissolutions @> (m.month - interval '1 microsecond'))
           select m.month, count(a.month) as active_at_start, count(a.month) filter (where a.churned) as churned
           from months m left join active a on a.month = m.month
           group by m.month order by m.month""",
        start,
        end,
    )
    months = [
        {
            "month": model.iso(r["month"]),
            "active_at_start": r["active_at_start"],
            "churned": r["churned"],
            "churn_rate": _pct(r["churned"], r["active_at_start"]),
        }
        for r in rows
    ]
    active = sum(m["active_at_start"] for m in months)
    churned = sum(m["churned"] for m in months)
    return {
        "from": model.iso(start),
        "to": model.iso(end),
        "average_monthly_churn_rate": _pct(churned, active),
        "by_month": months,
    }


async def kpi_clv(conn: asyncpg.Connection, *, start: datetime, end: datetime) -> dict[str, Any]:
    """CLV distribution (percentiles, tiers) and by acquisition channel, for customers acquired in range."""
    # erased customers stay: an erasure removes their personal data, not the value they brought (issue 20.2)
    where = "merged_into is null and customer_since >= $1 and customer_since < $2"
    overall = await conn.fetchrow(
        f"""select count(*) as customers, coalesce(sum(clv), 0) as total, avg(clv) as average,
                   percentile_cont(array[0.1, 0.25, 0.5, 0.75, 0.9]) within group (order by clv) as pct
            from customer_views where {where}""",
        start,
        end,
    )
    tiers = await conn.fetch(
        f"select value_tier, count(*) as n from customer_views where {where} group by 1 order by 1", start, end
    )
    channels = await conn.fetch(
        f"""select coalesce(acquisition_channel, 'unknown') as channel, count(*) as customers,
                   avg(clv) as average, sum(clv) as total
            from customer_views where {where} group by 1 order by 1""",
        start,
        end,
    )
    pct = overall["pct"] or [None] * 5

    def money(value: Any) -> str | None:
        return None if value is None else f"{f.money(Decimal(str(value))):.2f}"

    return {
        "from": model.iso(start),
        "to": model.iso(end),
        "customers": overall["customers"],
        "total": money(overall["total"]),
        "average": money(overall["average"]),
        "percentiles": {k: money(v) for k, v in zip(("p10", "p25", "p50", "p75", "p90"), pct, strict=True)},
        "by_tier": {r["value_tier"] or "unknown": r["n"] for r in tiers},
        "by_acquisition_channel": [
            {
                "channel": r["channel"],
                "customers": r["customers"],
                "average": money(r["average"]),
                "total": money(r["total"]),
            }
            for r in channels
        ],
    }


async def kpi_service(conn: asyncpg.Connection, *, start: datetime, end: datetime) -> dict[str, Any]:
    """First response and resolution times, SLA breach, transfer and first-contact resolution rates."""
    row = await conn.fetchrow(
        """select count(*) as tickets,
                  count(*) filter (where resolved_at is not null) as resolved,
                  avg(first_response_seconds) as first_response,
                  percentile_cont(0.5) within group (order by first_response_seconds) as first_response_p50,
                  avg(resolution_seconds) as resolution,
                  percentile_cont(0.5) within group (order by resolution_seconds) as resolution_p50,
                  count(*) filter (where sla_breached) as breached,
                  count(*) filter (where transfers > 0) as transferred,
                  count(*) filter (where first_contact_resolution) as fcr
           from ticket_facts where opened_at >= $1 and opened_at < $2""",
        start,
        end,
    )
    causes = await conn.fetch(
        """select root_cause, count(*) as n from ticket_facts
           where opened_at >= $1 and opened_at < $2 and root_cause is not null
           group by 1 order by 2 desc, 1 limit 10""",
        start,
        end,
    )

    def hours(value: Any) -> str | None:
        return None if value is None else f"{float(value) / 3600:.2f}"

    tickets, resolved = row["tickets"], row["resolved"]
    return {
        "from": model.iso(start),
        "to": model.iso(end),
        "tickets": tickets,
        "resolved": resolved,
        "first_response_hours_avg": hours(row["first_response"]),
        "first_response_hours_p50": hours(row["first_response_p50"]),
        "resolution_hours_avg": hours(row["resolution"]),
        "resolution_hours_p50": hours(row["resolution_p50"]),
        "sla_breach_rate": _pct(row["breached"], tickets),
        "transfer_rate": _pct(row["transferred"], tickets),
        "first_contact_resolution_rate": _pct(row["fcr"], resolved),
        "top_root_causes": [{"root_cause": r["root_cause"], "tickets": r["n"]} for r in causes],
    }


async def kpi_campaigns(conn: asyncpg.Connection, *, start: datetime, end: datetime) -> dict[str, Any]:
    """Per campaign: sends, conversions vs control, uplift, ROI (margin over send cost), in the range.

    Counted per UTC day (``campaign_days``): the days that start within ``[from, to)``.
    """
    rows = await conn.fetch(
        """select d.campaign_id, c.name, c.objective, sum(d.sends)::int as sends, sum(d.send_cost) as send_cost,
                  sum(d.held_out)::int as held_out, sum(d.redemptions)::int as redemptions,
                  sum(d.redemption_revenue) as redemption_revenue, sum(d.redemption_margin) as redemption_margin,
                  sum(d.control_conversions)::int as control_conversions
           from campaign_days d left join campaign_stats c on c.campaign_id = d.campaign_id
           where d.day >= ($1::timestamptz at time zone 'UTC')::date
             and (d.day::timestamp at time zone 'UTC') >= $1 and (d.day::timestamp at time zone 'UTC') < $2
           group by d.campaign_id, c.name, c.objective
           order by d.campaign_id""",
        start,
        end,
    )
    items = []
    for r in rows:
        sends, held = r["sends"], r["held_out"]
        treated_rate = Decimal(r["redemptions"]) / Decimal(sends) if sends else None
        control_rate = Decimal(r["control_conversions"]) / Decimal(held) if held else None
        uplift = (treated_rate - control_rate) if treated_rate is not None and control_rate is not None else None
        cost = r["send_cost"]
        roi = (r["redemption_margin"] - cost) / cost if cost else None
        items.append(
            {
                "campaign_id": r["campaign_id"],
                "name": r["name"],
                "objective": r["objective"],
                "sends": sends,
                "conversions": r["redemptions"],
                "conversion_rate": None if treated_rate is None else f"{treated_rate * 100:.1f}",
                "control_group": held,
                "control_conversions": r["control_conversions"],
                "control_conversion_rate": None if control_rate is None else f"{control_rate * 100:.1f}",
                "uplift_points": None if uplift is None else f"{uplift * 100:.1f}",
                "revenue": f"{r['redemption_revenue']:.2f}",
                "margin": f"{r['redemption_margin']:.2f}",
                "cost": f"{cost:.2f}",
                "roi": None if roi is None else f"{roi:.2f}",
            }
        )
    return {"from": model.iso(start), "to": model.iso(end), "items": items}


# --- NPS reasons -----------------------------------------------------------------------------------

CATEGORIES = ("promoter", "passive", "detractor")


def _reason_blocks(answers: dict[str, int], terms: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {c: {"answers": answers.get(c, 0), "top": terms.get(c, [])} for c in CATEGORIES}


async def kpi_nps_reasons(
    conn: asyncpg.Connection,
    *,
    start: datetime,
    end: datetime,
    period: str,
    segment: str | None,
    top: int,
    rules: AnalyticsRules,
) -> dict[str, Any]:
    """NPS per period and per segment with the top words and phrases of the reasons per NPS band.

    Reasons are grouped by the band the survey announced with the answer; the scores by this
    deployment's rules (``survey_answers``), as ``/v1/kpis/nps`` does. ``segment`` keeps only customers
    now in that segment. Erased customers' reasons are gone (``nps_reasons`` keeps terms, not text).
    """
    in_segment = "and ($4::text is null or exists (select 1 from customer_views v where v.customer_id = " \
                 "{t}.customer_id and $4 = any(" + KPI_SEGMENTS + ")))"
    category = "case when score >= $5 then 'promoter' when score >= $6 then 'passive' else 'detractor' end"
    scores = await conn.fetch(
        f"""select date_trunc($3, answered_at) as period, {category} as category, count(*) as n
            from survey_answers a where kind = 'nps' and answered_at >= $1 and answered_at < $2
            {in_segment.format(t='a')} group by 1, 2""",
        start, end, period, segment, rules.nps_promoter_min, rules.nps_passive_min,
    )
    segment_scores = await conn.fetch(
        f"""select s.segment, {category} as category, count(*) as n
            from survey_answers a join customer_views v on v.customer_id = a.customer_id
            cross join lateral unnest({KPI_SEGMENTS}) as s(segment)
            where a.kind = 'nps' and a.answered_at >= $1 and a.answered_at < $2 and $3::text is not null
              and ($4::text is null or s.segment = $4)
            group by 1, 2""",
        start, end, period, segment, rules.nps_promoter_min, rules.nps_passive_min,
    )
    # the reasons: answers per band and the top terms per band, overall, per period and per segment
    grouped = f"""
        with r as materialized (
            select date_trunc($3, r.answered_at) as period, r.category, r.terms, r.customer_id
            from nps_reasons r where r.answered_at >= $1 and r.answered_at < $2 {in_segment.format(t='r')}
        ), s as (
            select r.*, seg.segment from r join customer_views v on v.customer_id = r.customer_id
            cross join lateral unnest({KPI_SEGMENTS}) as seg(segment) where $4::text is null or seg.segment = $4
        ), keyed as (
            select 'all' as scope, null::timestamptz as period, null::text as segment, category, terms from r
            union all select 'period', period, null, category, terms from r
            union all select 'segment', null, segment, category, terms from s
        )"""
    answers = await conn.fetch(
        f"""{grouped} select scope, period, segment, category, count(*) as n from keyed group by 1, 2, 3, 4""",
        start, end, period, segment,
    )
    terms = await conn.fetch(
        f"""{grouped}, per_period as (
                select period, category, term, count(*) as n
                from r cross join lateral unnest(r.terms) as t(term) group by 1, 2, 3
            ), counted as (
                -- each reason is in one period: the whole range sums the periods' counts (no second unnest)
                select 'period' as scope, period, null::text as segment, category, term, n from per_period
                union all
                select 'all', null, null, category, term, sum(n)::bigint from per_period group by category, term
                union all
                select 'segment', null, s.segment, s.category, t.term, count(*)
                from s cross join lateral unnest(s.terms) as t(term) group by 3, 4, 5
            )
            select scope, period, segment, category, term, n from (
                select *, row_number() over (partition by scope, period, segment, category
                                             order by n desc, term) as rank
                from counted) ranked
            where rank <= $5 order by scope, period, segment, category, rank""",
        start, end, period, segment, top,
    )
    reason_answers: dict[tuple[str, Any], dict[str, int]] = {}
    for r in answers:
        key = (r["scope"], r["period"] if r["scope"] == "period" else r["segment"])
        reason_answers.setdefault(key, {})[r["category"]] = r["n"]
    top_terms: dict[tuple[str, Any], dict[str, list[dict[str, Any]]]] = {}
    for r in terms:
        key = (r["scope"], r["period"] if r["scope"] == "period" else r["segment"])
        top_terms.setdefault(key, {}).setdefault(r["category"], []).append(
            {"term": r["term"], "mentions": r["n"], "phrase": " " in r["term"]})

    def counts(rows: list[asyncpg.Record], by: str) -> dict[Any, dict[str, int]]:
        result: dict[Any, dict[str, int]] = {}
        for r in rows:
            result.setdefault(r[by], {c: 0 for c in CATEGORIES})[r["category"]] += r["n"]
        return result

    by_period = counts(scores, "period")
    by_segment = counts(segment_scores, "segment")
    totals = {c: sum(p[c] for p in by_period.values()) for c in CATEGORIES}
    periods = sorted(set(by_period) | {k[1] for k in reason_answers if k[0] == "period"})
    segments = sorted(set(by_segment) | {k[1] for k in reason_answers if k[0] == "segment"})
    zero = {c: 0 for c in CATEGORIES}

    def block(c: dict[str, int]) -> dict[str, Any]:
        return _nps_block(c["promoter"], c["passive"], c["detractor"])

    return {
        "from": model.iso(start),
        "to": model.iso(end),
        "period": period,
        "segment": segment,
        **block(totals),
        "reasons": _reason_blocks(reason_answers.get(("all", None), {}), top_terms.get(("all", None), {})),
        "by_period": [
            {"period": model.iso(p), **block(by_period.get(p, zero)),
             "reasons": _reason_blocks(reason_answers.get(("period", p), {}), top_terms.get(("period", p), {}))}
            for p in periods
        ],
        "by_segment": [
            {"segment": s, **block(by_segment.get(s, zero)),
             "reasons": _reason_blocks(reason_answers.get(("segment", s), {}), top_terms.get(("segment", s), {}))}
            for s in segments
        ],
    }
