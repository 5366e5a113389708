"""Event models used only by the shared library's tests (kept out of the real catalog)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from shared.events.catalog import Catalog, DomainEvent, Money, Personal

TEST_CATALOG = Catalog()


@TEST_CATALOG.register
class ThingHappened(DomainEvent):
    event_type = "ThingHappened"
    event_version = 1
    domain = "testing"

    customer_id: str
    amount: Money = Decimal("0")
    note: str = ""


@TEST_CATALOG.register
class PersonRenamedV1(DomainEvent):
    event_type = "PersonRenamed"
    event_version = 1
    domain = "testing"

    customer_id: str
    name: Annotated[str | None, Personal()] = None


@TEST_CATALOG.register
class PersonRenamed(DomainEvent):
    """v2 split the name; v1 data is upcast."""

    event_type = "PersonRenamed"
    event_version = 2
    domain = "testing"

    customer_id: str
    given_name: Annotated[str | None, Personal()] = None
    family_name: Annotated[str | None, Personal()] = None


@TEST_CATALOG.upcaster("PersonRenamed", 1)
def _split_name(data: dict[str, Any]) -> dict[str, Any]:
    name = data.pop("name", None) or ""
    given, _, family = name.partition(" ")
    return {**data, "given_name": given or None, "family_name": family or None}
