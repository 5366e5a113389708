"""The periodic sweep: time-based rules (inactivity, dissolution, windows) evaluated at ``now``.

Events re-evaluate a customer's traits when something happens; nothing happens to a customer who
went quiet, so the sweep re-evaluates everyone at the clock's ``now`` in pages, writes back the ones
whose traits changed and publishes their signals, all in one transaction per page. ``now`` is a
parameter, so tests (and back-testing) drive it with a controllable clock.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import asyncpg

from services.analytics.adapters import readmodel as rm
from services.analytics.adapters.signals import SignalAppend, append_signals
from services.analytics.application.alerts import remind_replenishment, remind_special_days
from services.analytics.application.projector import SIGNAL_STREAM_TYPE, signal_stream, view_row
from services.analytics.domain import model
from services.analytics.domain.rules import AnalyticsRules
from services.analytics.domain.signals import changes
from shared.clock import Clock
from shared.store.eventstore import EventStore
from shared.store.periodic import run_every

log = logging.getLogger(__name__)


async def sweep(
    pool: asyncpg.Pool, *, now: datetime, rules: AnalyticsRules, store: EventStore | None, page: int = 2000
) -> int:
    """Re-evaluate every active customer at ``now``; returns how many changed."""
    changed = 0
    after = "00000000-0000-0000-0000-000000000000"
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """select customer_id::text as id, state, signal_version from customer_views
                   where customer_id > $1::uuid and merged_into is null and status <> 'erased'
                   order by customer_id limit $2 for update skip locked""",
                after,
                page,
            )
            if not rows:
                return changed
            after = rows[-1]["id"]
            updates: list[rm.ViewRow] = []
            appends: list[SignalAppend] = []
            for row in rows:
                before = row["state"]
                last = before["last_event_at"]
                if last is not None and model.parse_iso(last) >= now:
                    continue
                after_state = model.evaluate(model.with_own_traits(before), now, rules)
                if model.traits_summary(after_state) == model.traits_summary(before):
                    continue
                version = row["signal_version"]
                emitted = changes(before, after_state, now=now, provenance_limit=rules.provenance_limit)
                if store is not None and emitted:
                    appends.append(
                        SignalAppend(signal_stream(row["id"]), SIGNAL_STREAM_TYPE, row["id"], version, emitted)
                    )
                    version += len(emitted)
                updates.append(view_row(after_state, merged_into=None, signal_version=version))
            await rm.write_views(conn, updates)
            if store is not None and appends:
                await append_signals(conn, appends, service=store.service, topic=store.topic)
            changed += len(updates)


async def run_sweeps(
    pool: asyncpg.Pool,
    *,
    clock: Clock,
    rules: AnalyticsRules,
    store: EventStore | None,
    interval: float,
    stop: asyncio.Event,
    page: int = 2000,
) -> None:
    """Sweep every ``interval`` seconds until ``stop`` is set, ``page`` customers per transaction.

    Each round also raises the account managers' special-day and replenishment alerts due at the same clock
    (``application/alerts.py``; not when signals are off, as in a rebuild).
    """

    async def tick() -> None:
        now = clock.now()
        changed = await sweep(pool, now=now, rules=rules, store=store, page=page)
        reminded = await remind_special_days(pool, now=now, rules=rules, store=store, page=page) if store else 0
        if store:
            reminded += await remind_replenishment(pool, now=now, rules=rules, store=store, page=page)
        log.info("sweep finished", extra={"changed": changed, "reminders": reminded})

    await run_every(interval, tick, stop, job="analytics sweep")
