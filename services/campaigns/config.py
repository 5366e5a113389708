"""Settings of the campaigns service (prefix ``CAMPAIGNS_`` for its own knobs)."""

from __future__ import annotations

from datetime import time
from typing import ClassVar

from pydantic import AliasChoices, Field

from services.campaigns.domain.decision import MarketingPolicy
from services.campaigns.domain.policy import decision_policy
from shared.contracts.campaigns import FrequencyCap, MarketingPolicyRules, QuietHours
from shared.settings import ServiceSettings


class CampaignsSettings(ServiceSettings):
    """Database, the default marketing policy (frequency cap, holds, quiet hours) and timer polling.

    The marketing policy knobs are version 0 of the policy: what holds until someone changes the
    policy through ``PUT /v1/marketing-policy`` (docs/marketing-policy.md); after that the stored
    policy wins and these are not read.
    """

    # No env_prefix: it would also apply to the inherited platform settings (ENVIRONMENT,
    # AUTH_JWT_SECRET, KAFKA_BOOTSTRAP_SERVERS...). Only this service's own knobs carry the prefix.
    service_name: ClassVar[str] = "campaigns"

    frequency_cap: int = Field(
        default=3,
        ge=1,
        description="Marketing messages per customer per window.",
        validation_alias=AliasChoices("CAMPAIGNS_FREQUENCY_CAP", "frequency_cap"),
    )
    frequency_window_days: int = Field(
        default=7, ge=1, validation_alias=AliasChoices("CAMPAIGNS_FREQUENCY_WINDOW_DAYS", "frequency_window_days")
    )
    complaint_hold: bool = Field(
        default=True, validation_alias=AliasChoices("CAMPAIGNS_COMPLAINT_HOLD", "complaint_hold")
    )
    sla_breach_hold_days: int = Field(
        default=7, ge=0, validation_alias=AliasChoices("CAMPAIGNS_SLA_BREACH_HOLD_DAYS", "sla_breach_hold_days")
    )
    detractor_hold_days: int = Field(
        default=30, ge=0, validation_alias=AliasChoices("CAMPAIGNS_DETRACTOR_HOLD_DAYS", "detractor_hold_days")
    )
    quiet_hours_start: time = Field(
        default=time(21, 0), validation_alias=AliasChoices("CAMPAIGNS_QUIET_HOURS_START", "quiet_hours_start")
    )
    quiet_hours_end: time = Field(
        default=time(8, 0), validation_alias=AliasChoices("CAMPAIGNS_QUIET_HOURS_END", "quiet_hours_end")
    )
    attribution_window_days: int = Field(
        default=30, ge=1, validation_alias=AliasChoices("CAMPAIGNS_ATTRIBUTION_WINDOW_DAYS", "attribution_window_days")
    )
    timer_poll_seconds: float = Field(
        default=5.0, gt=0, validation_alias=AliasChoices("CAMPAIGNS_TIMER_POLL_SECONDS", "timer_poll_seconds")
    )

    def policy_rules(self) -> MarketingPolicyRules:
        """The default marketing policy (version 0) as the policy document the API shows."""
        quiet = (QuietHours(start=self.quiet_hours_start, end=self.quiet_hours_end)
                 if self.quiet_hours_start != self.quiet_hours_end else None)
        return MarketingPolicyRules(
            caps=[FrequencyCap(channel=None, max_messages=self.frequency_cap, window_days=self.frequency_window_days)],
            quiet_hours=quiet,
            complaint_hold=self.complaint_hold,
            sla_breach_hold_days=self.sla_breach_hold_days,
            detractor_hold_days=self.detractor_hold_days,
        )

    def policy(self) -> MarketingPolicy:
        """The default marketing policy the engine decides with until the policy is first changed."""
        return decision_policy(self.policy_rules(), 0)
