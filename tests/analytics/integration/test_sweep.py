"""The periodic sweep: driven by its clock, and safe beside a projector batch on the same customer."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from services.analytics.adapters import readmodel as rm
from services.analytics.application.sweep import run_sweeps, sweep
from services.analytics.bootstrap import event_store
from services.analytics.consumers.projector import AnalyticsProjector
from shared.consuming.consumer import apply_records
from shared.testing.clock import FixedClock
from shared.testing.waiting import eventually
from tests.analytics.builders import at, new_customer_id, order_placed, registered, survey_answered
from tests.analytics.integration.support import records


async def test_a_sweep_during_a_batch_leaves_the_customer_to_its_next_round(
    settings, pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = event_store(settings)
    projector = AnalyticsProjector(rules=settings.rules, store=store)
    cid = new_customer_id()
    assert await apply_records(pool, projector, records([registered(cid, at(0)), order_placed(cid, at(1))])) == []
    quiet_for_a_year = at(1) + timedelta(days=400)

    # hold the projector between reading the view and writing it back
    reading_done, go_on = asyncio.Event(), asyncio.Event()
    write_views = rm.write_views

    async def held_write(conn: Any, rows: Any) -> Any:
        if not reading_done.is_set():
            reading_done.set()
            await go_on.wait()
        return await write_views(conn, rows)

    monkeypatch.setattr(rm, "write_views", held_write)
    batch = asyncio.create_task(apply_records(pool, projector, records([survey_answered(cid, 10, at(2))])))
    await asyncio.wait_for(reading_done.wait(), 30)
    during = await sweep(pool, now=quiet_for_a_year, rules=settings.rules, store=store)
    go_on.set()
    assert await asyncio.wait_for(batch, 30) == []
    after = await sweep(pool, now=quiet_for_a_year, rules=settings.rules, store=store)

    assert (during, after) == (0, 1)
    stage = await pool.fetchval("select lifecycle_stage from customer_views where customer_id = $1", cid)
    assert stage == "dissolution"
    dissolutions = await pool.fetchval(
        "select count(*) from public.events where subject = $1 and event_type = 'LifecycleStageChanged'"
        " and data->>'to_stage' = 'dissolution'",
        cid,
    )
    assert dissolutions == 1


async def test_the_periodic_sweep_evaluates_at_its_clocks_time(
    settings, pool, caplog: pytest.LogCaptureFixture
) -> None:
    store = event_store(settings)
    projector = AnalyticsProjector(rules=settings.rules, store=store)
    cid = new_customer_id()
    assert await apply_records(pool, projector, records([registered(cid, at(0)), order_placed(cid, at(1))])) == []
    clock, stop = FixedClock(at(30)), asyncio.Event()
    caplog.set_level(logging.INFO, logger="services.analytics.application.sweep")

    async def sweeps_finished() -> int:
        return sum(1 for record in caplog.records if record.message == "sweep finished")

    async def stage() -> str:
        value: str = await pool.fetchval("select lifecycle_stage from customer_views where customer_id = $1", cid)
        return value

    job = asyncio.create_task(run_sweeps(pool, clock=clock, rules=settings.rules, store=store, interval=0.05,
                                         stop=stop, page=1))
    try:
        await eventually(sweeps_finished, until=lambda n: n >= 2, message="two sweeps at day 30")
        assert await stage() == "awareness"  # a month of quiet changes no stage
        clock.set(at(1) + timedelta(days=366))
        await eventually(stage, until=lambda value: value == "dissolution", message="dissolved at the new time")
    finally:
        stop.set()
        await asyncio.wait_for(job, 30)
