"""The read model analytics' command handlers work through: webhook subscriptions and their replays.

Analytics is mostly a projection; its commands are the webhook subscriptions (data, not event
streams: the version is a column) and account managers' acknowledgements of alerts. Handlers reach
those tables only through this port, with no connection in sight, so they run on PostgreSQL
(``services.analytics.adapters.readmodel.PostgresReadModel``, in the command's transaction) or in
memory (``tests.analytics.fakes.InMemoryReadModel``, for unit tests) alike.

Rows come back as mappings with the tables' column names (``webhook_subscriptions``,
``webhook_replays``, ``account_manager_alerts``), what the views in ``application/`` read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID


class ReadModel(Protocol):
    """Every read and write of analytics' own tables that a command handler needs."""

    async def subscription(self, subscription_id: UUID, *, lock: bool = False) -> Mapping[str, Any] | None:
        """A subscription with its secrets; ``lock`` holds it until the command commits (``for update``)."""
        ...

    async def insert_subscription(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """Record a new subscription (``id, url, description, event_types, filter, personal_data, secret, now``)."""
        ...

    async def update_subscription(
        self, subscription_id: UUID, changes: Mapping[str, Any], now: datetime
    ) -> Mapping[str, Any]:
        """Set ``changes`` (column: value), bump the version; the subscription as it now reads."""
        ...

    async def delete_subscription(self, subscription_id: UUID) -> None:
        """Remove a subscription with its deliveries, attempts and replays."""
        ...

    async def wake_delivery(self) -> None:
        """Tell the delivery worker (on commit) that deliveries may be due now."""
        ...

    async def replays_waiting(self, subscription_id: UUID) -> int:
        """How many replays of the subscription are queued or running."""
        ...

    async def insert_replay(
        self, replay_id: UUID, subscription_id: UUID, since: datetime, now: datetime
    ) -> Mapping[str, Any]:
        """Queue a replay (and wake the worker that runs it); the replay row."""
        ...

    async def requeue_dead(self, subscription_id: UUID, now: datetime) -> int:
        """Put the subscription's dead deliveries back in line, attempts reset; how many."""
        ...

    async def acknowledge_alert(self, alert_id: UUID, *, by: str, now: datetime) -> Mapping[str, Any] | None:
        """Mark an open alert acknowledged; ``None`` when there is no such open alert."""
        ...

    async def alert(self, alert_id: UUID) -> Mapping[str, Any] | None:
        """An alert as stored, open or acknowledged."""
        ...
