"""Settings of the customer service (``CUSTOMER_*`` variables on top of the platform's)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field

from shared.settings import ServiceSettings


class CustomerSettings(ServiceSettings):
    """The customer service's knobs: return window, overdue scheduler's pace, erasure acknowledgers."""

    service_name: ClassVar[str] = "customer"

    return_window_days: int = Field(
        default=30,
        ge=0,
        validation_alias=AliasChoices("CUSTOMER_RETURN_WINDOW_DAYS", "return_window_days"),
        description="How long after delivery an order may be returned.",
    )
    overdue_scan_interval_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias=AliasChoices("CUSTOMER_OVERDUE_SCAN_INTERVAL_SECONDS", "overdue_scan_interval_seconds"),
        description="How often the scheduler looks for invoices unpaid past their due date.",
    )
    export_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        validation_alias=AliasChoices("CUSTOMER_EXPORT_LEASE_SECONDS", "export_lease_seconds"),
        description=(
            "How long an export job stays leased to the API process running it without a renewal; a job "
            "whose lease ran out lost its process and another API process restarts it."
        ),
    )
    erasure_acknowledgers: str = Field(
        default="ticketing,campaigns,analytics",
        validation_alias=AliasChoices("CUSTOMER_ERASURE_ACKNOWLEDGERS", "erasure_acknowledgers"),
        description=(
            "Comma-separated services that must acknowledge an erasure (CustomerDataErased) before it "
            "counts as complete; the customer service acknowledges its own on DELETE."
        ),
    )

    @property
    def erasure_services(self) -> tuple[str, ...]:
        """The services whose acknowledgement an erasure waits for (besides the customer service)."""
        return tuple(name.strip() for name in self.erasure_acknowledgers.split(",") if name.strip())
