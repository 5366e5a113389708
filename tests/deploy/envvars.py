"""Which environment variables each service reads, derived from its settings classes.

A setting is read under one or more names: pydantic-settings uses ``env_prefix + field name`` unless
the field has a validation alias (then only the alias choices). ``ServiceSettings`` additionally falls
back to ``<SERVICE>_DATABASE_URL`` and ``<SERVICE>_HTTP_PORT`` (see its ``_fill_service_defaults``), the
analytics console reads ``CONSOLE_LIVE_POLL_SECONDS`` directly, and relays and workers read
``METRICS_PORT`` (``shared.cli``) and ``LIVENESS_MAX_AGE_SECONDS`` (``shared.ops.heartbeat``). A setting
counts as configured when any one of its names is set.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

from shared.ops.service import load_service
from shared.settings import ServiceSettings

METRICS_PORT = "METRICS_PORT"
LIVENESS_MAX_AGE = "LIVENESS_MAX_AGE_SECONDS"
FALLBACK_NAMES = {"database_url": "{SERVICE}_DATABASE_URL", "http_port": "{SERVICE}_HTTP_PORT"}


@dataclass(frozen=True)
class Setting:
    service: str
    field: str
    names: frozenset[str]

    def configured_in(self, env: dict[str, str]) -> bool:
        return any(name in env for name in self.names)


def settings_class(service: str) -> type[ServiceSettings]:
    settings = load_service(service).settings_factory()
    return type(settings)


def names_of(cls: type[BaseSettings], field: str) -> frozenset[str]:
    info = cls.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, str):
        names = {alias}
    elif isinstance(alias, AliasChoices):
        names = {choice for choice in alias.choices if isinstance(choice, str)}
    elif isinstance(alias, AliasPath):
        names = {str(alias.path[0])}
    else:
        names = {f"{cls.model_config.get('env_prefix', '')}{info.alias or field}"}
    return frozenset(name.upper() for name in names)


def settings_read_by(service: str) -> list[Setting]:
    cls = settings_class(service)
    found = []
    for field in cls.model_fields:
        names = set(names_of(cls, field))
        if field in FALLBACK_NAMES:
            names.add(FALLBACK_NAMES[field].format(SERVICE=service.upper()))
        found.append(Setting(service, field, frozenset(names)))
    if service == "analytics":
        found.append(Setting(service, "console:live_poll", frozenset({"CONSOLE_LIVE_POLL_SECONDS"})))
    return found


def process_settings(args: list[str]) -> list[Setting]:
    """What ``c360 <args>`` reads: its service's settings, plus the probe settings of a relay or a worker."""
    found = settings_read_by(args[1])
    if args[0] in ("relay", "worker"):
        found.append(Setting(args[1], "cli:metrics_port", frozenset({METRICS_PORT})))
        found.append(Setting(args[1], "heartbeat:max_age", frozenset({LIVENESS_MAX_AGE})))
    return found


def names_read_anywhere(services: list[str]) -> frozenset[str]:
    """Every variable name some process of ``services`` reads."""
    names = {METRICS_PORT, LIVENESS_MAX_AGE}
    for service in services:
        for setting in settings_read_by(service):
            names |= setting.names
    return frozenset(names)
