"""Settings of the campaigns service (prefix ``CAMPAIGNS_`` for its own knobs)."""

from __future__ import annotations

from datetime import time, timedelta
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.campaigns.domain.decision import MarketingPolicy
from shared.settings import ServiceSettings


class CampaignsSettings(ServiceSettings):
    """Database, marketing policy (frequency cap, holds, quiet hours) and timer polling."""

    model_config = SettingsConfigDict(env_prefix="CAMPAIGNS_", env_file=None, extra="ignore", frozen=True)
    service_name: ClassVar[str] = "campaigns"

    frequency_cap: int = Field(default=3, ge=1, description="Marketing messages per customer per window.")
    frequency_window_days: int = Field(default=7, ge=1)
    complaint_hold: bool = True
    sla_breach_hold_days: int = Field(default=7, ge=0)
    detractor_hold_days: int = Field(default=30, ge=0)
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    attribution_window_days: int = Field(default=30, ge=1)
    timer_poll_seconds: float = Field(default=5.0, gt=0)

    def policy(self) -> MarketingPolicy:
        """The marketing policy the engine decides with."""
        return MarketingPolicy(
            frequency_cap=self.frequency_cap,
            frequency_window=timedelta(days=self.frequency_window_days),
            complaint_hold=self.complaint_hold,
            sla_breach_hold=timedelta(days=self.sla_breach_hold_days),
            detractor_hold=timedelta(days=self.detractor_hold_days),
            quiet_hours_start=self.quiet_hours_start,
            quiet_hours_end=self.quiet_hours_end,
        )
