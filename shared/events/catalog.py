"""The event catalog: every event type is a typed, versioned pydantic model registered here.

Why a catalog instead of free-form dicts: downstream systems subscribe to our topics and need stable
contracts. Each ``(event_type, version)`` pair has exactly one model; JSON Schemas and the AsyncAPI
document are generated from these models (``make schemas``) and a test refuses a breaking change
without a new version. Readers always work with the *latest* version: older payloads are upcast on
read by registered upcasters, one version step at a time, so the log never needs rewriting.

Personal data is marked on the model (``Annotated[str, Personal()]``) so the store can encrypt it
(crypto-shredding) and the schema tells subscribers which fields are personal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationError

CE_TYPE_PREFIX = "customer360"

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

# Money travels as a decimal string ("1890.00"), never a float.
Money = Annotated[
    Decimal,
    Field(max_digits=18, decimal_places=2, json_schema_extra={"format": "decimal"}),
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
]


def Personal(**kwargs: Any) -> Any:  # noqa: N802 - reads as a marker: Annotated[str, Personal()]
    """Marks a field as personal data: encrypted at rest, erased with the customer's key."""
    return Field(json_schema_extra={"x-personal": True}, **kwargs)


class DomainEvent(BaseModel):
    """Base of every event payload.

    Subclasses set ``event_type`` (past tense: ``OrderPlaced``), ``event_version`` and ``domain``
    (the producing service, which is also the topic ``<domain>.events``). ``extra="ignore"`` keeps old
    consumers working when a producer adds an optional field (a compatible change).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    event_version: ClassVar[int] = 1
    domain: ClassVar[str]
    description: ClassVar[str] = ""

    @classmethod
    def ce_type(cls) -> str:
        """The CloudEvents ``type`` attribute, e.g. ``customer360.customer.OrderPlaced.v1``."""
        return ce_type_for(cls.domain, cls.event_type, cls.event_version)

    @classmethod
    def personal_fields(cls) -> frozenset[str]:
        """Names of the fields marked ``Personal()`` (computed once per class: it is on the hot path)."""
        cached = cls.__dict__.get("_personal_fields_cache")
        if cached is None:
            cached = frozenset(
                name
                for name, info in cls.model_fields.items()
                if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("x-personal")
            )
            type.__setattr__(cls, "_personal_fields_cache", cached)
        return cached


def ce_type_for(domain: str, event_type: str, version: int) -> str:
    """Build a CloudEvents type string from its parts."""
    return f"{CE_TYPE_PREFIX}.{domain}.{event_type}.v{version}"


@dataclass(frozen=True, slots=True)
class TypeName:
    """A parsed CloudEvents type: domain, event type and version."""

    domain: str
    event_type: str
    version: int


@functools.lru_cache(maxsize=1024)
def parse_ce_type(value: str) -> TypeName:
    """Parse ``customer360.<domain>.<EventType>.v<N>``; ValueError when it is not one of ours."""
    parts = value.split(".")
    if len(parts) != 4 or parts[0] != CE_TYPE_PREFIX or not parts[3].startswith("v"):
        raise ValueError(f"not a customer360 event type: {value!r}")
    try:
        version = int(parts[3][1:])
    except ValueError as exc:
        raise ValueError(f"bad version in event type {value!r}") from exc
    if version < 1:
        raise ValueError(f"bad version in event type {value!r}")
    return TypeName(parts[1], parts[2], version)


class UnknownEventType(LookupError):
    """The catalog has no model for this event type or version."""


class InvalidEventData(ValueError):
    """The payload does not match its event model."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class Catalog:
    """Registry of event models by ``(event_type, version)``, with upcasters between versions."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, int], type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._latest: dict[str, int] = {}

    def register(self, model: type[DomainEvent]) -> type[DomainEvent]:
        """Register a model (usable as a class decorator). Registering the same class twice is a no-op."""
        key = (model.event_type, model.event_version)
        existing = self._models.get(key)
        if existing is not None and existing is not model and (
            existing.__qualname__ != model.__qualname__ or existing.__module__ != model.__module__
        ):
            raise ValueError(f"{model.event_type} v{model.event_version} is already registered")
        self._models[key] = model
        self._latest[model.event_type] = max(self._latest.get(model.event_type, 0), model.event_version)
        return model

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning version ``from_version`` data into ``from_version + 1`` data."""

        def decorator(function: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = function
            return function

        return decorator

    def latest_version(self, event_type: str) -> int:
        try:
            return self._latest[event_type]
        except KeyError:
            raise UnknownEventType(event_type) from None

    def model(self, event_type: str, version: int | None = None) -> type[DomainEvent]:
        """The model for a type (latest version by default)."""
        if version is None:
            version = self.latest_version(event_type)
        try:
            return self._models[(event_type, version)]
        except KeyError:
            raise UnknownEventType(f"{event_type} v{version}") from None

    def decode(self, event_type: str, version: int, data: dict[str, Any]) -> DomainEvent:
        """Validate ``data`` of the given version and return it as the latest version's model."""
        latest = self.latest_version(event_type)
        if version > latest:
            raise UnknownEventType(f"{event_type} v{version} is newer than this reader knows (v{latest})")
        if (event_type, version) not in self._models:
            raise UnknownEventType(f"{event_type} v{version}")
        current = data if version == latest else dict(data)
        for step in range(version, latest):
            upcast = self._upcasters.get((event_type, step))
            if upcast is None:
                raise UnknownEventType(f"no upcaster for {event_type} v{step} -> v{step + 1}")
            current = upcast(current)
        model = self._models[(event_type, latest)]
        try:
            return model.model_validate(current)
        except ValidationError as exc:
            raise InvalidEventData(
                f"{event_type} v{version}: {exc.error_count()} validation error(s)",
                [dict(e) for e in exc.errors(include_url=False, include_input=False)],
            ) from None

    def __iter__(self) -> Iterator[type[DomainEvent]]:
        return iter(sorted(self._models.values(), key=lambda m: (m.domain, m.event_type, m.event_version)))

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._models

    def by_domain(self, domain: str) -> list[type[DomainEvent]]:
        return [m for m in self if m.domain == domain]


CATALOG = Catalog()
"""The one catalog. Contract modules in ``shared.contracts`` register into it when imported."""


def event(model: type[DomainEvent]) -> type[DomainEvent]:
    """Class decorator: register an event model in the global catalog."""
    return CATALOG.register(model)


__all__ = [
    "CATALOG",
    "Catalog",
    "DomainEvent",
    "InvalidEventData",
    "Money",
    "Personal",
    "TypeName",
    "UnknownEventType",
    "ce_type_for",
    "date",
    "datetime",
    "event",
    "parse_ce_type",
]
