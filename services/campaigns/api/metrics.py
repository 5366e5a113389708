"""``campaign_messages_sent_total{campaign,channel}``: outbound messages committed, read on scrape.

Sends are decisions the engine, the timers and the API all record in the ``decisions`` table, in
the transaction that appends their events; counting them there on scrape covers every process and
survives restarts. The count only grows, so it is exposed as a counter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class SentMessages(Collector):
    """The latest counts read from the database, handed to Prometheus at collection time."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("campaign_messages_sent", "Outbound messages committed by campaigns.",
                                     labels=("campaign", "channel"))
        for (campaign, channel), count in sorted(self.counts.items()):
            family.add_metric([campaign, channel], count)
        yield family


def sent_messages_refresher(registry: Any, *, ttl: float = 15.0) -> Any:
    """A ``/metrics`` refresher reading the send counts per campaign and channel."""
    collector = SentMessages()
    registry.register(collector)
    last = 0.0

    async def refresh(app: Any) -> None:
        nonlocal last
        if time.monotonic() - last < ttl:
            return
        last = time.monotonic()
        try:
            rows = await app.state.pool.fetch(
                "select campaign_id::text as campaign, coalesce(channel, 'none') as channel, count(*) as n"
                " from decisions where outcome = 'sent' group by 1, 2"
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.debug("campaign metrics unavailable", extra={"error": repr(exc)})
            return
        collector.counts = {(r["campaign"], r["channel"]): r["n"] for r in rows}

    return refresh
