"""The published contracts: committed schemas match the models, and breaking changes are refused."""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, get_args

import orjson
import yaml

import shared.contracts  # noqa: F401 - registers every event type
from shared.contracts.campaigns import MessageRequested
from shared.events.catalog import CATALOG, DomainEvent, Money, Personal
from shared.outbox.topics import EVENT_TOPICS, MESSAGE_TOPICS
from shared.schemagen import (
    REPO_ROOT,
    asyncapi_document,
    breaking_changes,
    channel_messages,
    channel_types,
    component_schemas,
    event_schema,
    generated_files,
    topics_of,
)


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
    published = [m for m in CATALOG if topics_of(m)]
    assert len(document["components"]["messages"]) == len(published)
    assert "PersonalDataViewedV1" not in document["components"]["messages"]  # stays in the event store
    headers = document["components"]["schemas"]["CloudEventHeaders"]
    assert {"ce_id", "ce_type", "ce_source", "ce_subject", "ce_time"} <= set(headers["required"])
    committed = yaml.safe_load((REPO_ROOT / "docs" / "asyncapi.yaml").read_text())
    assert committed["asyncapi"] == "3.0.0"


def test_moving_a_definition_into_defs_or_inline_is_not_breaking() -> None:
    """Where a nested type is defined is layout: the check compares resolved schemas."""
    inline = schema_of(a=str)
    inline["properties"]["kind"] = {"enum": ["x", "y"], "type": "string", "title": "Kind"}
    inline["required"].append("kind")
    referenced = copy.deepcopy(inline)
    referenced["$defs"] = {"Kind": referenced["properties"]["kind"]}
    referenced["properties"]["kind"] = {"$ref": "#/$defs/Kind"}
    elsewhere = copy.deepcopy(inline)
    elsewhere["definitions"] = {"Kind": elsewhere["properties"]["kind"]}
    elsewhere["properties"]["kind"] = {"$ref": "#/definitions/Kind", "description": "what it is"}
    assert breaking_changes(referenced, inline) == []
    assert breaking_changes(inline, elsewhere) == []
    changed = copy.deepcopy(referenced)
    changed["$defs"]["Kind"]["enum"] = ["x"]
    assert breaking_changes(referenced, changed) == ["type of 'kind' changed"]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_in_the_asyncapi_document_resolves_in_the_document() -> None:
    document = yaml.safe_load((REPO_ROOT / "docs" / "asyncapi.yaml").read_text())
    dangling = []
    for ref in set(_refs(document)):
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        if not ref.startswith("#/") or node is None:
            dangling.append(ref)
    assert dangling == []
    assert not any("$defs" in schema for schema in document["components"]["schemas"].values())


def test_each_channel_declares_exactly_the_event_types_routed_to_it() -> None:
    document = asyncapi_document(CATALOG)
    declared = channel_types(document)
    routed = {topic: {m.ce_type() for m in models} for topic, models in channel_messages(CATALOG).items()}
    assert declared == routed
    assert declared["campaigns.messages"] == {MessageRequested.ce_type()}
    assert MessageRequested.ce_type() not in declared["campaigns.events"]
    assert set(declared) == {*EVENT_TOPICS, *MESSAGE_TOPICS}
    assert all(declared.values())


def _probe(name: str, **fields: Any) -> type[DomainEvent]:
    model: type[DomainEvent] = type(name, (DomainEvent,), {"__annotations__": fields, "event_type": name,
                                                           "domain": "testing"})
    return model


def test_a_definition_name_two_events_use_for_different_types_is_qualified_in_the_document() -> None:
    colour = StrEnum("Colour", {"RED": "red"})
    another_colour = StrEnum("Colour", {"SWEET": "sweet"})  # pydantic names a $defs entry by its class
    components = component_schemas([_probe("FirstProbe", kind=colour), _probe("SecondProbe", kind=another_colour)])
    assert components["FirstProbeV1"]["properties"]["kind"] == {"$ref": "#/components/schemas/FirstProbeV1.Colour"}
    assert components["FirstProbeV1.Colour"]["enum"] == ["red"]
    assert components["SecondProbeV1.Colour"]["enum"] == ["sweet"]
    assert "Colour" not in components


def test_a_definition_every_event_means_the_same_by_is_shared_in_the_document() -> None:
    colour = StrEnum("Colour", {"RED": "red"})
    components = component_schemas([_probe("FirstProbe", kind=colour), _probe("SecondProbe", paint=colour)])
    assert components["FirstProbeV1"]["properties"]["kind"] == {"$ref": "#/components/schemas/Colour"}
    assert components["SecondProbeV1"]["properties"]["paint"] == {"$ref": "#/components/schemas/Colour"}
    assert components["Colour"]["enum"] == ["red"]


def test_no_event_type_can_carry_an_instant_without_an_offset() -> None:
    """A naive datetime would publish "2030-01-01T10:00:00", which its own date-time schema refuses."""
    from pydantic import TypeAdapter

    naive = datetime(2030, 1, 1, 10)
    offenders = []
    checked = 0
    for model in CATALOG:
        for name, info in model.model_fields.items():
            if datetime not in (get_args(info.annotation) or (info.annotation,)):
                continue
            constrained = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            checked += 1
            if TypeAdapter(constrained).validate_python(naive).tzinfo is None:
                offenders.append(f"{model.event_type} v{model.event_version}.{name}")
    assert offenders == []
    assert checked > 40


def test_an_instant_given_without_an_offset_is_published_as_utc_and_old_naive_events_still_load() -> None:
    from shared.contracts.campaigns import CampaignCreated

    created = CampaignCreated(campaign_id="c", name="Spring", objective="upsell", action_kind="offer",
                              control_group_pct=0, starts_at=datetime(2030, 1, 1, 10))
    assert created.model_dump(mode="json")["starts_at"] == "2030-01-01T10:00:00Z"
    stored = {**created.model_dump(mode="json"), "starts_at": "2030-01-01T10:00:00"}  # as the API once stored it
    assert CATALOG.decode("CampaignCreated", 1, stored).model_dump(mode="json")["starts_at"] == "2030-01-01T10:00:00Z"
    assert CampaignCreated(**{**stored, "starts_at": "2030-01-01T13:00:00+03:00"}).starts_at == created.starts_at


def test_every_published_schema_file_is_valid_json_schema_and_self_contained() -> None:
    """A subscriber validates with one file: it must be valid 2020-12 and resolve every $ref by itself."""
    import jsonschema_rs

    files = sorted((REPO_ROOT / "schemas").rglob("*.json"))
    assert files
    for path in files:
        schema = orjson.loads(path.read_bytes())
        jsonschema_rs.meta.validate(schema)
        assert all(ref.startswith("#/$defs/") for ref in _refs(schema)), path
        jsonschema_rs.validator_for(schema, validate_formats=True, offline=True)  # resolves every $ref
