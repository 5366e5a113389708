"""SLA over a real database: breaches exactly once (two schedulers at once), pauses, back-testing, Kafka."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from services.ticketing.application.scheduler import emit_sla_breaches, run_scheduler
from services.ticketing.bootstrap import event_store
from shared.settings import PlatformSettings
from shared.store.db import create_pool
from shared.testing.clock import FixedClock
from shared.testing.kafka import drain_outbox, read_topic
from shared.testing.waiting import eventually
from tests.ticketing.api.conftest import TicketingService


async def test_two_schedulers_past_the_due_time_emit_exactly_one_breach_and_escalation(
    ticketing: TicketingService, platform_topics_created: PlatformSettings
) -> None:
    ticket = await ticketing.open(priority="urgent", agent_id="agent-ayse")
    quiet = await ticketing.open(priority="low", agent_id="agent-ayse")
    now = ticketing.clock.advance(timedelta(hours=1, minutes=5))

    counts = await asyncio.gather(
        emit_sla_breaches(ticketing.pool, ticketing.store, now),
        emit_sla_breaches(ticketing.pool, ticketing.store, now),
    )
    assert sum(counts) == 1
    assert await emit_sla_breaches(ticketing.pool, ticketing.store, now) == 0

    assert await ticketing.types(ticket["id"]) == ["TicketOpened", "TicketAssigned", "SlaBreached", "TicketEscalated"]
    assert await ticketing.types(quiet["id"]) == ["TicketOpened", "TicketAssigned"]
    breached = (await ticketing.outbox(ticket["id"]))[2]["data"]
    assert (breached["target"], breached["breached_by_seconds"], breached["priority"]) == (
        "first_response",
        300,
        "urgent",
    )
    view = (await ticketing.client.get(f"/v1/tickets/{ticket['id']}", headers=ticketing.staff)).json()
    assert (view["escalation_level"], view["breached"]) == (1, True)
    assert view["next_due_at"] == view["resolution_due"]
    listed = (await ticketing.client.get("/v1/tickets?breached=true", headers=ticketing.staff)).json()
    assert [t["id"] for t in listed["items"]] == [ticket["id"]]

    published = await drain_outbox(ticketing.dsn, ticketing.settings)
    assert published == 6
    topic = platform_topics_created.topic("ticketing.events")
    records = await asyncio.to_thread(read_topic, platform_topics_created.kafka_bootstrap_servers, topic, expected=6)
    breaches = [r for r in records if "SlaBreached" in r.headers["ce_type"]]
    assert len(breaches) == 1
    assert breaches[0].key == ticket["customer_id"].encode()
    assert breaches[0].value["ticket_id"] == ticket["id"]


async def test_the_resolution_target_breaches_later_and_separately(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(priority="urgent", agent_id="agent-ayse")
    await ticketing.act(ticket["id"], "comments", {"body": "On it", "visibility": "public"})
    assert await emit_sla_breaches(ticketing.pool, ticketing.store, ticketing.clock.advance(timedelta(hours=7))) == 0
    assert await emit_sla_breaches(ticketing.pool, ticketing.store, ticketing.clock.advance(timedelta(hours=2))) == 1
    data = (await ticketing.outbox(ticket["id"]))[-2]["data"]
    assert (data["target"], data["breached_by_seconds"]) == ("resolution", 3600)


async def test_no_breach_while_waiting_on_the_customer_and_the_due_time_moves(ticketing: TicketingService) -> None:
    ticket = await ticketing.open(priority="urgent", agent_id="agent-ayse")
    ticketing.clock.advance(timedelta(minutes=30))
    await ticketing.act(ticket["id"], "wait-for-customer")
    later = ticketing.clock.advance(timedelta(hours=10))
    assert await emit_sla_breaches(ticketing.pool, ticketing.store, later) == 0
    resumed = (await ticketing.act(ticket["id"], "resume")).json()
    assert resumed["first_response_due"] == "2026-03-02T20:00:00Z", "1 h target + 10 h paused"
    assert await emit_sla_breaches(ticketing.pool, ticketing.store, ticketing.clock.advance(timedelta(minutes=29))) == 0
    assert await emit_sla_breaches(ticketing.pool, ticketing.store, ticketing.clock.advance(timedelta(minutes=2))) == 1


async def test_back_testing_replays_history_under_a_proposed_policy(ticketing: TicketingService) -> None:
    slow = await ticketing.open(priority="normal", agent_id="agent-ayse")
    fast = await ticketing.open(priority="normal", agent_id="agent-ayse")
    ticketing.clock.advance(timedelta(minutes=20))
    await ticketing.act(fast["id"], "comments", {"body": "hi", "visibility": "public"})
    ticketing.clock.advance(timedelta(hours=2))
    await ticketing.act(slow["id"], "comments", {"body": "hi", "visibility": "public"})
    for ticket in (slow, fast):
        await ticketing.act(ticket["id"], "resolve", {"resolution": "done"})

    def policy(normal_first_minutes: int) -> dict[str, object]:
        rows = {p: {"first_response_minutes": 60, "resolution_minutes": 600} for p in ("low", "high", "urgent")}
        rows["normal"] = {"first_response_minutes": normal_first_minutes, "resolution_minutes": 600}
        return {"policy": {"tiers": {"standard": rows}}}

    loose = await ticketing.client.post("/v1/sla-policies/simulate", json=policy(480), headers=ticketing.staff)
    assert loose.status_code == 200, loose.text
    assert (loose.json()["tickets"], loose.json()["breaches"]) == (2, 0)
    tight = (await ticketing.client.post("/v1/sla-policies/simulate", json=policy(60), headers=ticketing.staff)).json()
    assert (tight["breaches"], tight["escalations"], tight["breach_rate"]) == (1, 1, 0.5)
    [normal] = tight["by_priority"]
    assert normal["priority"] == "normal" and normal["first_response_breaches"] == 1
    assert normal["mean_first_response_seconds"] == (20 * 60 + 140 * 60) / 2

    incomplete = {"policy": {"tiers": {"standard": {"low": {"first_response_minutes": 1, "resolution_minutes": 2}}}}}
    bad = await ticketing.client.post("/v1/sla-policies/simulate", json=incomplete, headers=ticketing.staff)
    assert bad.status_code == 422
    inverted = policy(60)
    inverted["policy"]["tiers"]["standard"]["low"] = {"first_response_minutes": 50, "resolution_minutes": 5}  # type: ignore[index]
    assert (
        await ticketing.client.post("/v1/sla-policies/simulate", json=inverted, headers=ticketing.staff)
    ).status_code == 422


async def test_the_settings_in_force_are_readable(ticketing: TicketingService) -> None:
    body = (await ticketing.client.get("/v1/ticket-settings", headers=ticketing.staff)).json()
    assert "wrong_skill" in body["transfer_reasons"] and "product_defect" in body["root_causes"]
    assert body["sla_policy"]["tiers"]["dedicated_assistance"]["urgent"]["first_response_minutes"] == 30


async def test_the_background_scheduler_loop_emits_breaches_until_stopped(ticketing: TicketingService) -> None:
    from services.ticketing.application.scheduler import run_scheduler
    from shared.testing.waiting import eventually

    ticket = await ticketing.open(priority="urgent", agent_id="agent-ayse")
    ticketing.clock.advance(timedelta(hours=2))
    stop = asyncio.Event()
    loop = asyncio.create_task(
        run_scheduler(
            ticketing.pool,
            ticketing.store,
            ticketing.clock,
            stop,
            interval_seconds=0.05,
            unverified_grace=timedelta(hours=24),
        )
    )
    try:
        await eventually(lambda: ticketing.types(ticket["id"]), until=lambda types: "SlaBreached" in types)
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=5)
    assert (await ticketing.types(ticket["id"])).count("SlaBreached") == 1


async def test_the_service_definition_and_openapi_describe_the_service(ticketing: TicketingService) -> None:
    from shared.ops.service import load_service

    service = load_service("ticketing")
    assert service.produces == "ticketing.events"
    assert set(service.workers) == {"scheduler", "customer-replica"}
    schema = (await ticketing.client.get("/openapi.json")).json()
    assert "/v1/sla-policies/simulate" in schema["paths"]
    summaries = [op.get("summary") for path in schema["paths"].values() for op in path.values()]
    assert all(summaries)


class _CountingClock:
    """The test's clock, counting how often a scheduler read it (once per tick)."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.reads = 0

    def now(self) -> datetime:
        self.reads += 1
        return self.clock.now()


async def test_two_scheduler_instances_with_their_own_pools_breach_each_target_exactly_once(
    ticketing: TicketingService, platform_topics_created: PlatformSettings
) -> None:
    tickets = [await ticketing.open(priority="urgent", agent_id="agent-ayse") for _ in range(30)]
    answered = tickets[:10]
    for ticket in answered:
        await ticketing.act(ticket["id"], "comments", {"body": "on it", "visibility": "public"})
    # Two instances as two processes would run them: their own pool, store and clock reader.
    pools = [await create_pool(ticketing.dsn, min_size=1, max_size=2) for _ in range(2)]
    clocks = [_CountingClock(ticketing.clock), _CountingClock(ticketing.clock)]
    stop = asyncio.Event()
    loops = [
        asyncio.create_task(
            run_scheduler(
                pool,
                event_store(ticketing.settings),
                clock,
                stop,
                interval_seconds=0.01,
                unverified_grace=timedelta(hours=24),
            )
        )
        for pool, clock in zip(pools, clocks, strict=True)
    ]

    async def breaches() -> list[str]:
        rows = await ticketing.pool.fetch(
            "select data->>'target' as target from events where event_type = 'SlaBreached'"
        )
        return [r["target"] for r in rows]

    async def a_few_more_ticks() -> None:
        """Both instances start at least three more ticks: any duplicate they could write is written by then."""
        seen = [c.reads for c in clocks]

        async def reads() -> list[int]:
            return [c.reads for c in clocks]

        await eventually(reads, until=lambda now: all(n >= s + 3 for n, s in zip(now, seen, strict=True)))

    try:
        ticketing.clock.advance(timedelta(hours=1, minutes=1))
        await eventually(breaches, until=lambda found: len(found) >= 20, message="first-response breaches")
        await a_few_more_ticks()
        assert sorted(await breaches()) == ["first_response"] * 20
        ticketing.clock.advance(timedelta(hours=7))
        await eventually(breaches, until=lambda found: len(found) >= 50, message="resolution breaches")
        await a_few_more_ticks()
        assert sorted(await breaches()) == ["first_response"] * 20 + ["resolution"] * 30
    finally:
        stop.set()
        await asyncio.gather(*loops)
        for pool in pools:
            await pool.close()

    for ticket in tickets:
        events = await ticketing.outbox(ticket["id"])
        escalations = [e["data"]["level"] for e in events if e["type"] == "TicketEscalated"]
        targets = [e["data"]["target"] for e in events if e["type"] == "SlaBreached"]
        if ticket in answered:
            assert (targets, escalations) == (["resolution"], [1])
        else:
            assert (targets, escalations) == (["first_response", "resolution"], [1, 2])
    assert all(c.reads > 0 for c in clocks), "both instances were running"

    published = await drain_outbox(ticketing.dsn, ticketing.settings)
    topic = platform_topics_created.topic("ticketing.events")
    records = await asyncio.to_thread(
        read_topic, platform_topics_created.kafka_bootstrap_servers, topic, expected=published
    )
    on_kafka = [(r.value["ticket_id"], r.value["target"]) for r in records if "SlaBreached" in r.headers["ce_type"]]
    assert len(on_kafka) == len(set(on_kafka)) == 50


async def test_a_scheduler_that_loses_the_race_to_an_agent_skips_and_breaches_once_on_the_next_tick(
    ticketing: TicketingService,
) -> None:
    ticket = await ticketing.open(priority="urgent", agent_id="agent-ayse")
    now = ticketing.clock.advance(timedelta(hours=2))
    # An agent's internal note, appended but not yet committed, when the scheduler looks.
    async with ticketing.agent_note_in_flight(ticket, at=now) as commit:
        sweep = asyncio.create_task(emit_sla_breaches(ticketing.pool, ticketing.store, now))
        await eventually(ticketing.someone_waits_on_a_lock, message="the scheduler waits on the agent's append")
        await commit()
        assert await sweep == 0, "the stale decision is dropped, not appended over the agent's event"
    assert await ticketing.types(ticket["id"]) == ["TicketOpened", "TicketAssigned", "TicketCommented"]
    assert await emit_sla_breaches(ticketing.pool, ticketing.store, now) == 1
    assert await emit_sla_breaches(ticketing.pool, ticketing.store, now) == 0
    types = await ticketing.types(ticket["id"])
    assert types[3:] == ["SlaBreached", "TicketEscalated"]


async def test_back_testing_can_replay_only_the_tickets_opened_since_a_moment(ticketing: TicketingService) -> None:
    await ticketing.open(priority="urgent", agent_id="agent-ayse")
    since = ticketing.clock.advance(timedelta(days=2))
    recent = await ticketing.open(priority="urgent", agent_id="agent-ayse")
    ticketing.clock.advance(timedelta(hours=2))
    rows = {p: {"first_response_minutes": 60, "resolution_minutes": 600} for p in ("low", "normal", "high", "urgent")}
    body = {"policy": {"tiers": {"standard": rows}}, "opened_since": since.isoformat()}
    report = await ticketing.client.post("/v1/sla-policies/simulate", json=body, headers=ticketing.staff)
    assert report.status_code == 200, report.text
    assert (report.json()["tickets"], report.json()["breaches"]) == (1, 1), recent["id"]
    everything = {"policy": body["policy"]}
    all_of_it = (
        await ticketing.client.post("/v1/sla-policies/simulate", json=everything, headers=ticketing.staff)
    ).json()
    assert (all_of_it["tickets"], all_of_it["breaches"]) == (2, 3), "2 for the old one, 1 for the recent one"
