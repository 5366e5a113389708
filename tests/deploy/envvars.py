"""Which environment variables each service reads, derived from its settings classes.

A setting is read under one or more names: pydantic-settings uses ``env_prefix + field name`` unless
the field has a validation alias (then only the alias choices). ``ServiceSettings`` additionally falls
back to ``<SERVICE>_DATABASE_URL`` and ``<SERVICE>_HTTP_PORT`` (see its ``_fill_service_defaults``), and
the analytics console reads ``<SERVICE>_API_URL`` and ``CONSOLE_LIVE_POLL_SECONDS`` directly.
A setting counts as configured when any one of its names is set.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

from shared.service import load_service
from shared.settings import ServiceSettings

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
        from services.analytics.console.router import DEFAULT_URLS

        for name in DEFAULT_URLS:
            found.append(Setting(service, f"console:{name}", frozenset({f"{name.upper()}_API_URL"})))
        found.append(Setting(service, "console:live_poll", frozenset({"CONSOLE_LIVE_POLL_SECONDS"})))
    return found
