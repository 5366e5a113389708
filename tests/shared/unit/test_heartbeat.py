"""A relay's or worker's liveness answers from its work loop's heartbeat, not from its probe thread."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from shared.ops.heartbeat import Heartbeat, beat_while_running
from shared.ops.observability import ThreadingWSGIServer, serve_process_metrics
from shared.testing.waiting import eventually


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served() -> Iterator[tuple[str, Heartbeat]]:
    heartbeat = Heartbeat(max_age=0.3)
    port = free_port()
    server: ThreadingWSGIServer = serve_process_metrics(port, heartbeat, host="127.0.0.1")
    try:
        yield f"http://127.0.0.1:{port}", heartbeat
    finally:
        server.shutdown()
        server.server_close()


def test_a_heartbeat_is_alive_until_its_last_beat_is_too_old() -> None:
    heartbeat = Heartbeat(max_age=0.2)
    assert heartbeat.alive() and heartbeat.age() < 0.2
    time.sleep(0.25)  # the condition under test is the passing of time itself
    assert not heartbeat.alive()
    heartbeat.beat()
    assert heartbeat.alive()


async def test_liveness_fails_while_the_event_loop_is_blocked_and_metrics_still_answer(
    served: tuple[str, Heartbeat],
) -> None:
    url, heartbeat = served
    stop = asyncio.Event()
    beats = asyncio.create_task(beat_while_running(heartbeat, stop, every=0.05))
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            alive = await client.get("/health/live")
            assert alive.status_code == 200 and alive.json()["status"] == "alive"
            # Block the event loop (a synchronous call that hangs) while the probe asks from a thread.
            probe = asyncio.get_running_loop().run_in_executor(None, _probe_after, f"{url}/health/live", 0.5)
            time.sleep(1.0)  # noqa: ASYNC251 - a blocked event loop is what this test is about
            stalled = await probe
            assert stalled.status_code == 503, stalled.text
            assert stalled.json()["status"] == "stalled" and stalled.json()["heartbeat_age_seconds"] > 0.3
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200 and "relay_published_total" in metrics.text
            await eventually(lambda: client.get("/health/live"), until=lambda r: r.status_code == 200,
                             message="alive again once the loop beats")
    finally:
        stop.set()
        await beats


def _probe_after(url: str, delay: float) -> httpx.Response:
    time.sleep(delay)
    return httpx.get(url, timeout=5.0)
