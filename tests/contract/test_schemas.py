"""The published contracts: committed schemas match the models, and breaking changes are refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import orjson
import yaml

import shared.contracts  # noqa: F401 - registers every event type
from shared.catalog import CATALOG, DomainEvent, Money, Personal
from shared.schemagen import REPO_ROOT, asyncapi_document, breaking_changes, event_schema, generated_files


def schema_of(**fields: Any) -> dict[str, Any]:
    model = type("Probe", (DomainEvent,), {"__annotations__": fields, "event_type": "Probe", "domain": "testing"})
    return event_schema(model)


def test_committed_schemas_and_asyncapi_match_the_models() -> None:
    stale = []
    for path, content in generated_files(CATALOG).items():
        if not path.exists():
            stale.append(f"missing {path.relative_to(REPO_ROOT)}")
        elif path.read_bytes() != content:
            old, new = path.read_bytes(), content
            why = breaking_changes(orjson.loads(old), orjson.loads(new)) if path.suffix == ".json" else []
            stale.append(f"{path.relative_to(REPO_ROOT)}" + (f" BREAKING: {why}" if why else " (run make schemas)"))
    assert stale == []


def test_every_event_type_has_a_committed_schema_per_version() -> None:
    committed = {p.relative_to(REPO_ROOT / "schemas").as_posix() for p in (REPO_ROOT / "schemas").rglob("*.json")}
    expected = {f"{m.domain}/{m.event_type}/v{m.event_version}.json" for m in CATALOG}
    assert expected <= committed


def test_removing_a_field_is_breaking() -> None:
    assert breaking_changes(schema_of(a=str, b=int), schema_of(a=str)) == ["field 'b' was removed or renamed"]


def test_renaming_a_field_is_breaking() -> None:
    problems = breaking_changes(schema_of(a=str), schema_of(renamed=str))
    assert "field 'a' was removed or renamed" in problems
    assert "required field 'renamed' was added" in problems


def test_changing_a_type_is_breaking() -> None:
    assert breaking_changes(schema_of(a=str), schema_of(a=int)) == ["type of 'a' changed"]


def test_making_an_optional_field_required_is_breaking() -> None:
    old = schema_of(a=str, b=str | None)
    old["required"] = ["a"]
    new = schema_of(a=str, b=str)
    assert "optional field 'b' was made required" in breaking_changes(old, new)


def test_adding_an_optional_field_is_compatible() -> None:
    old = schema_of(a=str)
    new = schema_of(a=str, b=str | None)
    new["required"] = ["a"]
    assert breaking_changes(old, new) == []


def test_every_personal_field_is_optional_so_erasure_can_blank_it() -> None:
    offenders = []
    for model in CATALOG:
        for name in model.personal_fields():
            if model.model_fields[name].is_required() or not _accepts_none(model, name):
                offenders.append(f"{model.event_type} v{model.event_version}.{name}")
    assert offenders == []


def _accepts_none(model: type[DomainEvent], name: str) -> bool:
    from pydantic import TypeAdapter

    try:
        TypeAdapter(model.model_fields[name].annotation).validate_python(None)
    except Exception:
        return False
    return True


def test_money_travels_as_a_decimal_string() -> None:
    class Paid(DomainEvent):
        event_type = "Paid"
        domain = "testing"
        amount: Money
        name: Annotated[str | None, Personal()] = None

    assert Paid(amount=Decimal("1890")).model_dump(mode="json")["amount"] == "1890.00"
    assert event_schema(Paid)["properties"]["name"]["x-personal"] is True


def test_asyncapi_lists_every_topic_and_message_with_cloudevent_headers() -> None:
    document = asyncapi_document(CATALOG)
    addresses = {c["address"] for c in document["channels"].values()}
    assert {"customer.events", "ticketing.events", "campaigns.events", "analytics.events"} <= addresses
    assert len(document["components"]["messages"]) == len(list(CATALOG))
    headers = document["components"]["schemas"]["CloudEventHeaders"]
    assert {"ce_id", "ce_type", "ce_source", "ce_subject", "ce_time"} <= set(headers["required"])
    committed = yaml.safe_load((REPO_ROOT / "docs" / "asyncapi.yaml").read_text())
    assert committed["asyncapi"] == "3.0.0"
