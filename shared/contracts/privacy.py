"""The erasure acknowledgement: how every service proves it forgot an erased customer.

``CustomerErased`` (on ``customer.events``) asks every service to drop what it holds about a
customer. Each service answers, once its own data is clean and in the same transaction as the
cleaning, with ``CustomerDataErased`` on its *own* topic (``customer.events``,
``ticketing.events``, ``campaigns.events``, ``analytics.events``): the customer service collects
the answers into ``GET /v1/customers/{id}/erasure``, so a data-protection officer can show when each
service finished. An answer published in the cleaning's transaction cannot claim more than was done:
if the cleaning rolls back, so does the answer.

The event is shared by all producing services, so it lives in a domain of its own (``privacy``); the
publisher is the CloudEvents ``source`` and, redundantly, ``service``. It carries no personal data:
``details`` are counts of what was cleaned.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.instants import Instant
from shared.events.catalog import DomainEvent, event

ERASURE_TOPICS = ("customer.events", "ticketing.events", "campaigns.events", "analytics.events")
"""Every topic a ``CustomerDataErased`` is published on: each service answers on its own."""


def erasure_stream(customer_id: UUID | str) -> str:
    """The stream holding a service's acknowledgement(s) of one customer's erasure."""
    return f"erasure-{customer_id}"


@event
class CustomerDataErased(DomainEvent):
    """A service acknowledges an erasure: it holds no personal data of the customer any more."""

    event_type: ClassVar[str] = "CustomerDataErased"
    event_version: ClassVar[int] = 1
    domain: ClassVar[str] = "privacy"
    published_on: ClassVar[tuple[str, ...]] = ERASURE_TOPICS
    description: ClassVar[str] = (
        "A service finished erasing a customer's personal data (read models cleaned, keys destroyed); "
        "published by each service on its own topic."
    )

    customer_id: UUID = Field(description="The erased customer; also the CloudEvents subject and the Kafka key.")
    service: str = Field(
        min_length=1,
        max_length=50,
        description="The acknowledging service (customer, ticketing, campaigns, analytics).",
    )
    erased_at: Instant = Field(description="When this service's data was clean (its cleaning transaction).")
    erasure_event_id: UUID | None = Field(
        default=None, description="The id of the CustomerErased event acknowledged, when known."
    )
    details: dict[str, int] = Field(
        default_factory=dict,
        description="What was cleaned, as counts (e.g. tickets_redacted, keys_destroyed); never personal data.",
    )


PersonalDataViewName = Literal["customer_profile", "customer_export", "export_document", "export_rendering",
                              "customer_360", "customer_timeline", "customer_notes"]
"""The reads of personal data the platform records (``shared.web.audit.viewed``)."""


@event
class PersonalDataViewed(DomainEvent):
    """Someone was shown a customer's personal data through an API (the audit trail, ``GET /v1/audit``)."""

    event_type: ClassVar[str] = "PersonalDataViewed"
    event_version: ClassVar[int] = 1
    domain: ClassVar[str] = "privacy"
    published_on: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = (
        "A read of a customer's personal data, recorded by the service that served it before the answer left; "
        "kept in that service's event store for the audit trail, not published."
    )

    customer_id: UUID = Field(description="Whose data was shown; also the stream's subject.")
    view: PersonalDataViewName = Field(description="What was shown: the route's kind of answer.")
    viewed_by: str = Field(min_length=1, max_length=200,
                           description="The bearer token's subject: the signed-in person, a client, or the customer.")
    viewed_at: Instant = Field(description="When the answer was served.")


@event
class CustomerExportRequested(DomainEvent):
    """Someone asked for a copy of everything the platform holds about a customer (right of access)."""

    event_type: ClassVar[str] = "CustomerExportRequested"
    event_version: ClassVar[int] = 1
    domain: ClassVar[str] = "privacy"
    published_on: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = (
        "An export job was started for a customer, recorded in the customer service's event store in the "
        "transaction that creates the job, so the audit trail names who asked; not published."
    )

    customer_id: UUID = Field(description="Whose data is exported; also the stream's subject.")
    export_id: UUID = Field(description="The export job (``GET /v1/customers/{id}/exports/{export_id}``).")
    requested_by: str = Field(min_length=1, max_length=200,
                              description="The bearer token's subject: the officer, a client, or the customer.")
    self_service: bool = Field(description="True when the customer asked with a self-service token.")
    requested_at: Instant = Field(description="When the export was asked for.")


__all__ = ["ERASURE_TOPICS", "CustomerDataErased", "CustomerExportRequested", "PersonalDataViewName",
           "PersonalDataViewed", "erasure_stream"]
