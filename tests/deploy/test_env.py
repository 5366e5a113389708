"""Every setting a process reads is configured, under a name it reads, in compose and in Kubernetes, the
configured values pass the service's own settings validation, and nothing is set that no process reads
(a renamed or removed setting would otherwise linger in the manifests, silently ignored)."""

from __future__ import annotations

import base64
import os
import re
from typing import Any
from unittest import mock

import pytest

from shared.ops.service import load_service
from tests.deploy.conftest import OVERLAYS, Rendered
from tests.deploy.envvars import Setting, names_read_anywhere, process_settings

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")
SECRET_STAND_IN = "a-stand-in-for-a-secret-from-the-secret-store-0123456789"


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    """The environment compose gives a container when nothing is set in the shell (defaults applied)."""
    env = {}
    for key, value in (service.get("environment") or {}).items():
        text = "" if value is None else str(value)
        env[key] = _INTERPOLATION.sub(lambda m: m.group(2) or "", text).replace("$$", "$")
    return env


def kubernetes_env(docs: list[dict[str, Any]], deployment: str) -> dict[str, str]:
    """The environment of a Deployment's container from its envFrom ConfigMaps/Secrets and env entries."""
    index = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    container = index[("Deployment", deployment)]["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(index[("ConfigMap", source["configMapRef"]["name"])].get("data", {}))
        else:
            name = source["secretRef"]["name"]
            if ("Secret", name) in index:
                data = index[("Secret", name)].get("data", {})
                env.update({k: base64.b64decode(v).decode() for k, v in data.items()})
            else:
                external = next(
                    d for d in docs if d["kind"] == "ExternalSecret" and d["spec"]["target"]["name"] == name
                )
                env.update(dict.fromkeys(external["spec"]["target"]["template"]["data"], SECRET_STAND_IN))
    for entry in container.get("env", []):
        env[entry["name"]] = entry.get("value", SECRET_STAND_IN)
    return env


def assert_configured(service: str, settings: list[Setting], env: dict[str, str], where: str) -> None:
    missing = [f"{s.field} ({' or '.join(sorted(s.names))})" for s in settings if not s.configured_in(env)]
    assert not missing, f"{where}: settings not configured: {', '.join(missing)}"
    with mock.patch.dict(os.environ, env, clear=True):
        load_service(service).settings_factory()  # raises on a value the service would refuse


def assert_nothing_unread(env: dict[str, str], processes: dict[str, list[str]], where: str) -> None:
    unread = sorted(set(env) - names_read_anywhere(sorted({args[1] for args in processes.values()})))
    assert not unread, f"{where} sets variables no process reads: {', '.join(unread)}"


def test_compose_configures_every_setting(compose: dict[str, Any], processes: dict[str, list[str]]) -> None:
    for name, args in processes.items():
        assert_configured(
            args[1], process_settings(args), compose_env(compose["services"][name]), f"docker-compose.yml {name}"
        )
    for service in {args[1] for args in processes.values()}:
        assert_configured(
            service,
            process_settings(["migrate", service]),
            compose_env(compose["services"]["init"]),
            "docker-compose.yml init",
        )


def test_compose_sets_nothing_that_no_process_reads(compose: dict[str, Any], processes: dict[str, list[str]]) -> None:
    for name in [*processes, "init"]:
        assert_nothing_unread(compose_env(compose["services"][name]), processes, f"docker-compose.yml {name}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_configures_every_setting(rendered: Rendered, processes: dict[str, list[str]], overlay: str) -> None:
    for name, args in processes.items():
        assert_configured(
            args[1], process_settings(args), kubernetes_env(rendered[overlay], name), f"{overlay} Deployment {name}"
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_sets_nothing_that_no_process_reads(
    rendered: Rendered, processes: dict[str, list[str]], overlay: str
) -> None:
    for name in processes:
        assert_nothing_unread(kubernetes_env(rendered[overlay], name), processes, f"{overlay} Deployment {name}")
