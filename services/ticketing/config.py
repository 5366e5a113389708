"""Settings of the ticketing service (environment variables ``TICKETING_*`` plus the platform's)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import Field, field_validator

from services.ticketing.domain.model import DEFAULT_ROOT_CAUSES, DEFAULT_TRANSFER_REASONS, TicketRules
from services.ticketing.domain.sla import DEFAULT_POLICY_MINUTES, SlaPolicy
from shared.settings import ServiceSettings


class TicketingSettings(ServiceSettings):
    """Ticketing knobs; lists and the SLA policy are JSON in the environment.

    ``TICKETING_SLA_POLICY`` is ``{"<tier>": {"<priority>": [first_response_minutes,
    resolution_minutes]}}``; the ``standard`` tier must cover every priority, other tiers
    (``dedicated_assistance``) override the rows they name.
    """

    service_name: ClassVar[str] = "ticketing"

    ticketing_transfer_reasons: list[str] = Field(default_factory=lambda: list(DEFAULT_TRANSFER_REASONS), min_length=1)
    ticketing_root_causes: list[str] = Field(default_factory=lambda: list(DEFAULT_ROOT_CAUSES), min_length=1)
    ticketing_reopen_window_days: int = Field(default=14, ge=0)
    ticketing_sla_policy: dict[str, dict[str, tuple[int, int]]] = Field(
        default_factory=lambda: {tier: dict(rows) for tier, rows in DEFAULT_POLICY_MINUTES.items()}
    )
    ticketing_unverified_grace_hours: float = Field(
        default=24, gt=0, description="How long a ticket may wait for its customer to appear (ADR 0003)."
    )
    ticketing_scheduler_interval_seconds: float = Field(default=15, gt=0)

    @field_validator("ticketing_sla_policy")
    @classmethod
    def _valid_policy(cls, value: dict[str, dict[str, tuple[int, int]]]) -> dict[str, dict[str, tuple[int, int]]]:
        SlaPolicy.from_minutes(value)
        return value

    @property
    def sla_policy(self) -> SlaPolicy:
        return SlaPolicy.from_minutes(self.ticketing_sla_policy)

    @property
    def rules(self) -> TicketRules:
        return TicketRules(
            transfer_reasons=tuple(self.ticketing_transfer_reasons),
            root_causes=tuple(self.ticketing_root_causes),
            reopen_window=timedelta(days=self.ticketing_reopen_window_days),
        )

    @property
    def unverified_grace(self) -> timedelta:
        return timedelta(hours=self.ticketing_unverified_grace_hours)
