"""Imported history on the running platform: relayed, projected, and dated in the past everywhere.

APIs, relays, the analytics projector and the campaigns engine run as real processes
(``start_platform``); ``c360 import`` runs against their databases. The 360, the timeline and the
KPIs per period answer with the source's times, and the engine sends nothing for the past.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.importing.ledger import entity_id
from shared.testing.platform import RunningPlatform, start_platform, stop_platform
from shared.testing.plugin import DatabaseFactory
from shared.testing.waiting import eventually_sync

from .builders import a_customer_row, a_survey_row, a_ticket_row, an_invoice_row, an_order_row, ndjson, tag

C360 = str(Path(sys.executable).parent / "c360")


@pytest.fixture
def platform(database_factory: DatabaseFactory, kafka_bootstrap: str) -> Iterator[RunningPlatform]:
    running = start_platform(database_factory=database_factory, kafka_bootstrap=kafka_bootstrap, name="import",
                             workers={"analytics": ("projector",), "campaigns": ("engine",)},
                             relays=("customer", "ticketing", "campaigns", "analytics"))
    try:
        yield running
    finally:
        stop_platform(running, database_factory)


def test_imported_history_reaches_every_read_model_at_its_own_time(platform: RunningPlatform,
                                                                    tmp_path: Path) -> None:
    t = tag()
    rows = [a_customer_row(f"C{t}"),
            an_order_row(f"O{t}", f"C{t}", status="delivered", status_at="2019-05-04T12:00:00Z",
                         lines=[{"sku": "TV-55", "category": "electronics", "quantity": 1, "unit_price": "3490.00"}]),
            an_invoice_row(f"I{t}", f"O{t}", amount="3490.00"),
            a_ticket_row(f"T{t}", f"C{t}", status="closed", resolved_at="2020-02-04T08:00:00Z",
                         root_cause="delivery_delay"),
            a_survey_row(f"S{t}", f"C{t}", score=3)]
    path = tmp_path / "history.ndjson"
    path.write_bytes(ndjson(rows))
    done = subprocess.run([C360, "import", str(path), "--no-progress", "--rejects", str(tmp_path / "r.ndjson")],
                          env=platform.env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    customer = str(entity_id("customer", f"C{t}"))
    client = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {platform.admin_token}"})

    def timeline() -> list[dict[str, Any]]:
        answer = client.get(platform.url("analytics", f"/v1/customers/{customer}/timeline"), params={"limit": 50})
        items: list[dict[str, Any]] = answer.json().get("items", []) if answer.status_code == 200 else []
        return items

    items = eventually_sync(timeline, until=lambda i: {"SurveyAnswered", "TicketClosed", "InvoiceIssued"}
                            <= {e.get("type") for e in i}, timeout=120, message="history projected")
    at = {e["type"]: e["time"] for e in items}
    assert at["OrderPlaced"].startswith("2019-05-01T09:30")
    assert at["OrderDelivered"].startswith("2019-05-04T12:00")
    assert at["SurveyAnswered"].startswith("2020-03-01T12:00")

    nps_2020 = client.get(platform.url("analytics", "/v1/kpis/nps"),
                          params={"from": "2020-01-01T00:00:00Z", "to": "2021-01-01T00:00:00Z"}).json()
    nps_now = client.get(platform.url("analytics", "/v1/kpis/nps"),
                         params={"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}).json()
    assert _detractors(nps_2020) == 1, nps_2020
    assert _detractors(nps_now) == 0, nps_now

    before = client.get(platform.url("analytics", f"/v1/customers/{customer}/360"),
                        params={"as_of": "2019-04-01T00:00:00Z"})
    assert before.status_code in (200, 404)
    if before.status_code == 200:
        assert "TV-55" not in before.text
    assert "TV-55" in client.get(platform.url("analytics", f"/v1/customers/{customer}/360")).text


def _detractors(answer: Any) -> int:
    """The largest ``detractors`` count anywhere in a KPI answer (the range total)."""
    if isinstance(answer, dict):
        own = answer.get("detractors")
        found = [own] if isinstance(own, int) else []
        return max([*found, *(_detractors(v) for v in answer.values())], default=0)
    if isinstance(answer, list):
        return max((_detractors(v) for v in answer), default=0)
    return 0
