"""``campaign_messages_sent_total{campaign,channel}``: outbound messages committed, read on scrape.

Sends are decisions the engine, the timers and the API all record in the ``decisions`` table, in
the transaction that appends their events; counting them there on scrape covers every process and
survives restarts. The count only grows, so it is exposed as a counter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from shared.ops.observability import Refresher, read_on_scrape


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


def sent_messages_refresher(registry: Any, *, ttl: float = 15.0) -> Refresher:
    """A ``/metrics`` refresher reading the send counts per campaign and channel."""
    collector = SentMessages()
    registry.register(collector)

    async def read(app: Any) -> None:
        rows = await app.state.pool.fetch(
            "select campaign_id::text as campaign, coalesce(channel, 'none') as channel, count(*) as n"
            " from decisions where outcome = 'sent' group by 1, 2"
        )
        collector.counts = {(r["campaign"], r["channel"]): r["n"] for r in rows}

    return read_on_scrape(read, ttl=ttl, what="campaign metrics")
