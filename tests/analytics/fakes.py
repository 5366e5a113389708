"""Analytics' read model in memory, for unit tests of its command handlers (no database).

``InMemoryReadModel`` implements ``services.analytics.application.ports.ReadModel`` with plain dicts
shaped like the tables' rows, doing what the SQL does (defaults, version bumps, counts), so a
handler behaves here as it does on PostgreSQL; tests seed rows and assert on them afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from services.analytics.application.ports import ReadModel


@dataclass
class InMemoryReadModel:
    """``webhook_subscriptions``, ``webhook_deliveries``, ``webhook_replays``, ``account_manager_alerts``."""

    subscriptions: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    """Only what requeuing reads: ``subscription_id``, ``status``, ``attempts``, ``next_attempt_at``, ``dead_at``."""
    replays: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    alerts: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    wakes: int = 0
    """How often the delivery worker was told to look (``pg_notify`` on PostgreSQL)."""

    async def subscription(self, subscription_id: UUID, *, lock: bool = False) -> Mapping[str, Any] | None:
        row = self.subscriptions.get(subscription_id)
        return None if row is None else dict(row)

    async def insert_subscription(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        row = {
            "id": values["id"], "url": values["url"], "description": values["description"],
            "event_types": list(values["event_types"]), "filter": list(values["filter"]),
            "personal_data": values["personal_data"], "status": "active", "secret": values["secret"],
            "previous_secret": None, "previous_secret_until": None, "version": 1, "consecutive_failures": 0,
            "disabled_at": None, "disabled_reason": None, "created_at": values["now"], "updated_at": values["now"],
        }
        self.subscriptions[row["id"]] = row
        return dict(row)

    async def update_subscription(
        self, subscription_id: UUID, changes: Mapping[str, Any], now: datetime
    ) -> Mapping[str, Any]:
        row = self.subscriptions[subscription_id]
        row.update(changes)
        row["version"] += 1
        row["updated_at"] = now
        return dict(row)

    async def delete_subscription(self, subscription_id: UUID) -> None:
        self.subscriptions.pop(subscription_id, None)
        self.deliveries = [d for d in self.deliveries if d["subscription_id"] != subscription_id]
        self.replays = {k: r for k, r in self.replays.items() if r["subscription_id"] != subscription_id}

    async def wake_delivery(self) -> None:
        self.wakes += 1

    async def replays_waiting(self, subscription_id: UUID) -> int:
        return sum(1 for r in self.replays.values()
                   if r["subscription_id"] == subscription_id and r["status"] in ("queued", "running"))

    async def insert_replay(
        self, replay_id: UUID, subscription_id: UUID, since: datetime, now: datetime
    ) -> Mapping[str, Any]:
        row = {"id": replay_id, "subscription_id": subscription_id, "since": since, "status": "queued",
               "events_matched": 0, "events_read": 0, "error": None, "requested_at": now, "finished_at": None}
        self.replays[replay_id] = row
        self.wakes += 1
        return dict(row)

    async def requeue_dead(self, subscription_id: UUID, now: datetime) -> int:
        dead = [d for d in self.deliveries if d["subscription_id"] == subscription_id and d["status"] == "dead"]
        for delivery in dead:
            delivery.update(status="pending", attempts=0, next_attempt_at=now, dead_at=None)
        if dead:
            self.wakes += 1
        return len(dead)

    async def acknowledge_alert(self, alert_id: UUID, *, by: str, now: datetime) -> Mapping[str, Any] | None:
        row = self.alerts.get(alert_id)
        if row is None or row["acknowledged_at"] is not None:
            return None
        row.update(acknowledged_at=now, acknowledged_by=by)
        return dict(row)

    async def alert(self, alert_id: UUID) -> Mapping[str, Any] | None:
        row = self.alerts.get(alert_id)
        return None if row is None else dict(row)


def _implements_the_port(rows: InMemoryReadModel) -> ReadModel:
    """Never called: mypy (when it reads tests) and readers see the fake is a ``ReadModel``."""
    return rows
