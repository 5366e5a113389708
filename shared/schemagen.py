"""Generate the published event contracts: ``schemas/`` (JSON Schema) and ``docs/asyncapi.yaml``.

Run ``make schemas`` (``python -m shared.schemagen``). The generated files are committed: they are
what downstream teams read. Two guards keep them honest:

* a test fails when the committed files differ from what the models generate (someone changed a
  model without regenerating);
* a published schema is never overwritten by an incompatible one. Removing or renaming a field,
  changing its type, making an optional field required or adding a required field breaks existing
  subscribers or old events; such a change needs a new event version (with an upcaster), so
  ``make schemas`` refuses it, and the test says which rule was broken.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

import shared.contracts  # noqa: F401 - registers every event type in CATALOG
from shared.events.catalog import CATALOG, Catalog, DomainEvent
from shared.events.envelope import ACTOR_HEADER, HISTORY_HEADER, HISTORY_IMPORT, REQUIRED_HEADERS
from shared.outbox.topics import EVENT_TOPICS, MESSAGE_TOPICS
from shared.shredding import PREFIX as ENCRYPTED_PREFIX

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMAS_DIR = REPO_ROOT / "schemas"
ASYNCAPI_PATH = REPO_ROOT / "docs" / "asyncapi.yaml"
SCHEMA_BASE_URI = "https://customer360.dev/schemas"

_IGNORED_KEYWORDS = {"title", "description", "default", "examples", "x-personal"}


def schema_path(model: type[DomainEvent], root: Path = SCHEMAS_DIR) -> Path:
    return root / model.domain / model.event_type / f"v{model.event_version}.json"


def event_schema(model: type[DomainEvent]) -> dict[str, Any]:
    """The JSON Schema of one event version's data, as it travels on Kafka."""
    schema = model.model_json_schema(mode="serialization")
    for name in model.personal_fields():
        prop = schema["properties"][name]
        schema["properties"][name] = {
            "anyOf": [prop, {"type": "string", "pattern": f"^{ENCRYPTED_PREFIX}"}],
            "x-personal": True,
            "description": "Personal data: encrypted on the wire (crypto-shredded on erasure).",
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE_URI}/{model.domain}/{model.event_type}/v{model.event_version}.json",
        "x-event-type": model.event_type,
        "x-event-version": model.event_version,
        "x-ce-type": model.ce_type(),
        "x-topic": ", ".join(topics_of(model)),
        **schema,
        "title": f"{model.event_type} v{model.event_version}",
        "description": (model.__doc__ or model.description or "").strip().split("\n\n")[0],
    }


def topics_of(model: type[DomainEvent]) -> tuple[str, ...]:
    """The logical topics an event type is published on: the model's ``published_on``, else its domain's.

    This is the routing the producers use (the campaigns engine sends ``MessageRequested`` to
    ``MessageRequested.published_on``'s topic; each service's event store publishes its domain's
    events to ``<domain>.events``), so the AsyncAPI channels are derived from it, and the test suite's
    contract guard (``shared.testing.contract_guard``) checks every outbox row against it.
    An empty ``published_on`` means the events stay in the service's event store (``PersonalDataViewed``).
    """
    declared: tuple[str, ...] | None = getattr(model, "published_on", None)
    return (f"{model.domain}.events",) if declared is None else declared


def channel_messages(catalog: Catalog) -> dict[str, list[type[DomainEvent]]]:
    """Every platform topic (``shared.outbox.topics``) and the event types published on it, in catalog order.

    Refuses a model routed to a topic the platform does not provision, and a topic nothing is
    published on: either would make the document lie to subscribers.
    """
    channels: dict[str, list[type[DomainEvent]]] = {t: [] for t in (*EVENT_TOPICS, *MESSAGE_TOPICS)}
    for model in catalog:
        for topic in topics_of(model):
            if topic not in channels:
                raise ValueError(f"{model.event_type} v{model.event_version} is routed to {topic!r}, "
                                 f"which is not a platform topic ({', '.join(channels)})")
            channels[topic].append(model)
    empty = [t for t, models in channels.items() if not models]
    if empty:
        raise ValueError(f"no event type is published on {', '.join(empty)}")
    return channels


def _dump(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _resolve_pointer(root: Any, ref: str) -> Any:
    """The node a same-document JSON pointer (``#/$defs/X``, ``#/components/schemas/X``) names."""
    node = root
    for part in ref[2:].split("/") if ref != "#" else []:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _inline_refs(node: Any, root: Any, seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every same-document ``$ref`` replaced by what it points to (siblings kept).

    Where a definition lives (``$defs``, ``components/schemas``, inline) is layout, not contract: the
    compatibility check compares resolved schemas so moving a definition is never "breaking".
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#") and ref not in seen:
            target = _inline_refs(copy.deepcopy(_resolve_pointer(root, ref)), root, (*seen, ref))
            siblings = {k: _inline_refs(v, root, seen) for k, v in node.items() if k != "$ref"}
            return {**target, **siblings} if isinstance(target, dict) else target
        return {k: _inline_refs(v, root, seen) for k, v in node.items() if k not in ("$defs", "definitions")}
    if isinstance(node, list):
        return [_inline_refs(v, root, seen) for v in node]
    return node


def resolved(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its local definitions inlined: what a subscriber's validator really checks."""
    result: dict[str, Any] = _inline_refs(schema, schema)
    return result


def _shape(node: Any) -> Any:
    """A schema with documentation-only keywords removed, for comparing types."""
    if isinstance(node, dict):
        return {k: _shape(v) for k, v in node.items() if k not in _IGNORED_KEYWORDS}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return node


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """Why ``new`` cannot replace the published ``old`` under the same version (empty when compatible)."""
    return _compare_objects(resolved(old), resolved(new), path)


def _compare_objects(old: dict[str, Any], new: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    old_required = set(old.get("required", []))
    new_required = set(new.get("required", []))
    for name, old_prop in old_props.items():
        where = f"{path}{name}"
        if name not in new_props:
            problems.append(f"field '{where}' was removed or renamed")
            continue
        new_prop = new_props[name]
        if name not in old_required and name in new_required:
            problems.append(f"optional field '{where}' was made required")
        if old_prop.get("type") == "object" and new_prop.get("type") == "object":
            problems.extend(_compare_objects(old_prop, new_prop, f"{where}."))
        elif old_prop.get("type") == "array" and new_prop.get("type") == "array":
            old_items, new_items = old_prop.get("items", {}), new_prop.get("items", {})
            if old_items.get("type") == "object" or "properties" in old_items:
                problems.extend(_compare_objects(old_items, new_items, f"{where}[]."))
            elif _shape(old_items) != _shape(new_items):
                problems.append(f"type of '{where}[]' changed")
        elif _shape(old_prop) != _shape(new_prop):
            problems.append(f"type of '{where}' changed")
    for name in new_required - set(old_props):
        problems.append(f"required field '{path}{name}' was added")
    return problems


def _header_schema() -> dict[str, Any]:
    props: dict[str, Any] = {name: {"type": "string"} for name in REQUIRED_HEADERS}
    props.update({
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "format": "uuid", "description": "Unique event id (UUIDv7, time-ordered)."},
        "ce_source": {"type": "string", "description": "The producing service, e.g. /customer360/customer."},
        "ce_type": {"type": "string", "description": "customer360.<domain>.<EventType>.v<N>"},
        "ce_subject": {"type": "string", "description": "The customer id (also the record key)."},
        "ce_time": {"type": "string", "format": "date-time"},
        "content-type": {"type": "string", "const": "application/json"},
        "ce_correlationid": {"type": "string", "description": "Shared by every event one request caused."},
        "ce_causationid": {"type": "string", "description": "Id of the event or request that caused this one."},
        "ce_streamid": {"type": "string", "description": "The aggregate (stream) the event belongs to."},
        "ce_streamversion": {"type": "string", "description": "The event's version within its stream."},
        "ce_traceparent": {"type": "string", "description": "W3C trace context."},
        ACTOR_HEADER: {
            "type": "string",
            "description": "Who asked for the change: the bearer token's subject (for the console, the signed-in "
            "person). Present on events a request caused; absent on those a consumer or timer appended.",
        },
        HISTORY_HEADER: {
            "type": "string",
            "enum": [HISTORY_IMPORT],
            "description": "Only on events recording an enterprise's past brought in by a bulk import "
            "(docs/import.md): ce_time is when it happened in the source system; event-triggered marketing "
            "ignores them.",
        },
    })
    return {"type": "object", "required": [*REQUIRED_HEADERS, "ce_subject", "content-type"], "properties": props}


def _message_key(model: type[DomainEvent]) -> str:
    return f"{model.event_type}V{model.event_version}"


def _local_refs(node: Any) -> set[str]:
    """Names of the ``$defs`` entries that ``node`` refers to directly."""
    if isinstance(node, dict):
        found = {node["$ref"].removeprefix("#/$defs/")} if str(node.get("$ref", "")).startswith("#/$defs/") else set()
        return found.union(*(_local_refs(v) for k, v in node.items() if k != "$defs"))
    if isinstance(node, list):
        return set().union(*(_local_refs(v) for v in node))
    return set()


def _closure(name: str, defs: dict[str, Any]) -> bytes:
    """A definition and everything it refers to, as bytes: two definitions are the same type iff equal."""
    todo, seen = [name], set()
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(_local_refs(defs[current]))
    return _dump({n: defs[n] for n in sorted(seen)})


def _rewrite_refs(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node = {**node, "$ref": f"#/components/schemas/{names[ref.removeprefix('#/$defs/')]}"}
        return {k: _rewrite_refs(v, names) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(v, names) for v in node]
    return node


def component_schemas(models: list[type[DomainEvent]]) -> dict[str, dict[str, Any]]:
    """Every event's payload schema with its pydantic ``$defs`` hoisted into ``components.schemas``.

    In an AsyncAPI document a ``$ref`` resolves against the document, not against the schema that
    contains it, so ``#/$defs/X`` (fine in a standalone schemas/ file) points nowhere. A definition
    keeps its own name when every event that uses it means the same type by it (``Channel``);
    when two events define different types under one name, each gets ``<Message>.<Name>``.
    """
    payloads: dict[str, dict[str, Any]] = {}
    defs_of: dict[str, dict[str, Any]] = {}
    for model in models:
        schema = event_schema(model)
        key = _message_key(model)
        defs_of[key] = schema.pop("$defs", {})
        payloads[key] = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
        # The published standalone schema, for validators that want the JSON Schema 2020-12 file.
        payloads[key]["externalDocs"] = {"description": "Standalone JSON Schema", "url": schema["$id"]}
    variants: dict[str, set[bytes]] = {}
    for defs in defs_of.values():
        for name in defs:
            variants.setdefault(name, set()).add(_closure(name, defs))
    reserved = {*payloads, "CloudEventHeaders"}
    components: dict[str, dict[str, Any]] = {}
    for key, defs in defs_of.items():
        names = {n: n if len(variants[n]) == 1 and n not in reserved else f"{key}.{n}" for n in defs}
        for name, definition in defs.items():
            components[names[name]] = _rewrite_refs(definition, names)
        components[key] = _rewrite_refs(payloads[key], names)
    return components


def asyncapi_document(catalog: Catalog) -> dict[str, Any]:
    """An AsyncAPI 3.0 document: every topic, its key, headers and exactly the messages published on it."""
    models = [m for m in catalog if topics_of(m)]  # what stays in an event store is no Kafka contract
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas = component_schemas(models)
    for model in models:
        key = _message_key(model)
        messages[key] = {
            "name": model.event_type,
            "title": f"{model.event_type} v{model.event_version}",
            "summary": schemas[key].get("description") or model.event_type,
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
            "payload": {"$ref": f"#/components/schemas/{key}"},
            "bindings": {"kafka": {"key": {"type": "string", "description": "customer id"}, "bindingVersion": "0.5.0"}},
        }
    for topic, published in channel_messages(catalog).items():
        channel_id = topic.replace(".", "_")
        domain = topic.split(".")[0]
        if topic in MESSAGE_TOPICS:
            what = f"Outbound message requests of the {domain} service, for delivery systems (email, SMS, push)"
        else:
            what = f"Domain events of the {domain} service"
        channels[channel_id] = {
            "address": topic,
            "description": (
                f"{what}, keyed by customer id (one customer's records stay ordered). Undeliverable "
                f"records of consumers go to {topic}.dlq."
            ),
            "messages": {
                _message_key(m): {"$ref": f"#/components/messages/{_message_key(m)}"} for m in published
            },
            "bindings": {
                "kafka": {"partitions": 6, "topicConfiguration": {"retention.ms": -1}, "bindingVersion": "0.5.0"}
            },
        }
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"The {domain} service publishes through its transactional outbox.",
        }
    schemas["CloudEventHeaders"] = _header_schema()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Customer 360 event contracts",
            "version": "1.0.0",
            "description": (
                "CloudEvents 1.0 in Kafka binary mode: attributes in ce_* headers, the event data as the JSON "
                "value. Generated from shared/contracts by `make schemas`; do not edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka", "description": "make up"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def channel_types(document: dict[str, Any]) -> dict[str, set[str]]:
    """Topic address → the ``ce_type`` values the document declares on it (what subscribers rely on)."""
    messages = document["components"]["messages"]
    schemas = document["components"]["schemas"]
    result: dict[str, set[str]] = {}
    for channel in document["channels"].values():
        types = set()
        for ref in channel["messages"].values():
            message = messages[ref["$ref"].rsplit("/", 1)[1]]
            types.add(schemas[message["payload"]["$ref"].rsplit("/", 1)[1]]["x-ce-type"])
        result[channel["address"]] = types
    return result


def render_asyncapi(catalog: Catalog) -> str:
    return yaml.safe_dump(asyncapi_document(catalog), sort_keys=True, width=110, allow_unicode=True)


def generated_files(catalog: Catalog, root: Path = REPO_ROOT) -> dict[Path, bytes]:
    files = {schema_path(m, root / "schemas"): _dump(event_schema(m)) for m in catalog}
    files[root / "docs" / "asyncapi.yaml"] = render_asyncapi(catalog).encode()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate schemas/ and docs/asyncapi.yaml from the event models.")
    parser.add_argument("--check", action="store_true", help="only report differences; exit 1 if any")
    args = parser.parse_args(argv)
    problems: list[str] = []
    changed: list[Path] = []
    for path, content in generated_files(CATALOG).items():
        if path.exists() and path.read_bytes() == content:
            continue
        if path.suffix == ".json" and path.exists():
            broken = breaking_changes(orjson.loads(path.read_bytes()), orjson.loads(content))
            if broken:
                problems.append(f"{path.relative_to(REPO_ROOT)}: {'; '.join(broken)}")
                continue
        changed.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    for problem in problems:
        print(f"BREAKING (add a new event version with an upcaster instead): {problem}", file=sys.stderr)
    for path in changed:
        print(f"{'differs' if args.check else 'wrote'} {path.relative_to(REPO_ROOT)}")
    if problems or (args.check and changed):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
