"""The paths the probes, the HEALTHCHECK and Prometheus call exist in every service's app."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Match

from shared.service import SERVICE_NAMES, load_service
from tests.deploy.conftest import OVERLAYS, REPO, Rendered

OPERATIONS_PATHS = ("/health/live", "/health/ready", "/metrics")


def app_of(service: str) -> Any:
    definition = load_service(service)
    return definition.app_factory(definition.settings_factory())


def serves(app: Any, path: str) -> bool:
    """Whether the app's router routes ``GET path`` (asked of the router, whatever routes it nests)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "path_params": {}}
    return any(route.matches(scope)[0] == Match.FULL for route in app.routes)


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_operations_endpoints_exist(service: str) -> None:
    app = app_of(service)
    assert [path for path in OPERATIONS_PATHS if not serves(app, path)] == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_probe_path_exists_in_its_app(rendered: Rendered, overlay: str) -> None:
    apps = {service: app_of(service) for service in SERVICE_NAMES}
    checked = 0
    for doc in rendered[overlay]:
        if doc["kind"] != "Deployment":
            continue
        app = apps[doc["metadata"]["labels"]["c360.io/service"]]
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe in container:
                    assert serves(app, container[probe]["httpGet"]["path"]), (doc["metadata"]["name"], probe)
                    checked += 1
    assert checked


def test_the_image_healthcheck_and_the_scrape_paths_exist() -> None:
    app = app_of("customer")
    assert "/health/live" in (REPO / "Dockerfile").read_text() and serves(app, "/health/live")
    monitoring = (REPO / "deploy" / "k8s" / "base" / "platform" / "monitoring.yaml").read_text()
    assert "path: /metrics" in monitoring and serves(app, "/metrics")
