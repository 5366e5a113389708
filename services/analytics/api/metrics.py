"""Business gauges the dashboards show, read from the read models when Prometheus scrapes.

Reading them on scrape (at most once a minute) rather than counting in the projector keeps them
right across restarts, replicas and rebuilds: they are facts of the read model.
"""

from __future__ import annotations

import math
from typing import Any

from prometheus_client import Gauge

from shared.ops.observability import Refresher, read_on_scrape

BANDS = ("low", "medium", "high", "unscored")


def business_metrics_refresher(registry: Any, *, ttl: float = 60.0) -> Refresher:
    """A ``/metrics`` refresher setting ``analytics_nps`` and ``analytics_customers_by_churn_band``."""
    nps = Gauge("analytics_nps", "Net Promoter Score of the NPS answers of the last 30 days.", registry=registry)
    bands = Gauge("analytics_customers_by_churn_band", "Live customers per churn band.", ("band",),
                  registry=registry)

    async def read(app: Any) -> None:
        rules = app.state.rules
        async with app.state.pool.acquire() as conn:
            answers = await conn.fetchrow(
                """select count(*) filter (where score >= $1) as promoters,
                          count(*) filter (where score < $2) as detractors, count(*) as responses
                   from survey_answers where kind = 'nps' and answered_at >= now() - interval '30 days'""",
                rules.nps_promoter_min,
                rules.nps_passive_min,
            )
            rows = await conn.fetch(
                """select coalesce(churn_band, 'unscored') as band, count(*) as n from customer_views
                   where merged_into is null and status = 'active' group by 1"""
            )
        responses = answers["responses"]
        nps.set(100 * (answers["promoters"] - answers["detractors"]) / responses if responses else math.nan)
        counts = {r["band"]: r["n"] for r in rows}
        for band in BANDS:
            bands.labels(band=band).set(counts.get(band, 0))

    return read_on_scrape(read, ttl=ttl, what="business metrics")
