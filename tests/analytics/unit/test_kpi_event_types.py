"""The projector only asks ``collect_kpis`` about the event types it takes KPI facts from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import services.analytics.bootstrap  # noqa: F401  # registers every contract the 360 consumes
from services.analytics.application.projector import KPI_EVENT_TYPES, _Batch, collect_kpis
from shared.events.catalog import CATALOG


@dataclass(frozen=True)
class _Source:
    event_type: str
    event_id: Any = field(default_factory=uuid.uuid4)
    time: datetime = datetime(2026, 1, 1, tzinfo=UTC)


EVERY_FIELD: dict[str, Any] = {
    "customer_id": str(uuid.uuid4()), "ticket_id": str(uuid.uuid4()), "campaign_id": "c1", "score": 9,
    "kind": "nps", "question_kind": "text", "survey_kind": "nps", "nps_category": "promoter", "text": "fast",
    "total": "1.00", "cost": "1.00", "margin": "1.00", "name": "n", "objective": "o",
}


def _collected(batch: _Batch) -> list[Any]:
    return [batch.surveys, batch.reasons, batch.tickets, batch.campaigns, batch.holdouts, batch.orders]


def test_no_other_event_type_adds_a_kpi_fact_and_each_listed_one_can() -> None:
    types = {model.event_type for model in CATALOG}
    assert types >= KPI_EVENT_TYPES
    for event_type in sorted(types - KPI_EVENT_TYPES):
        batch = _Batch()
        collect_kpis(batch, _Source(event_type), dict(EVERY_FIELD), EVERY_FIELD["customer_id"])
        assert not any(_collected(batch)), event_type
    for event_type in sorted(KPI_EVENT_TYPES):
        batch = _Batch()
        collect_kpis(batch, _Source(event_type), dict(EVERY_FIELD), EVERY_FIELD["customer_id"])
        assert any(_collected(batch)), event_type
