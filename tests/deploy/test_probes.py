"""The paths the probes, the HEALTHCHECK and Prometheus call exist in every service's app."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Match

from shared.ops.service import SERVICE_NAMES, load_service
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
        if doc["kind"] != "Deployment" or doc["metadata"]["labels"]["app.kubernetes.io/component"] != "api":
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


def relay_and_worker_probes(rendered: Rendered) -> dict[str, tuple[list[str], dict[str, Any], int]]:
    """Deployment name -> (its c360 arguments, its probes, the METRICS_PORT it sets), relays and workers only."""
    found = {}
    for overlay in OVERLAYS:
        for doc in rendered[overlay]:
            if doc["kind"] != "Deployment" or doc["metadata"]["labels"]["app.kubernetes.io/component"] == "api":
                continue
            container = doc["spec"]["template"]["spec"]["containers"][0]
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            probes = {k: container[k] for k in ("livenessProbe", "readinessProbe") if k in container}
            assert set(probes) == {"livenessProbe", "readinessProbe"}, doc["metadata"]["name"]
            for probe in probes.values():
                assert ports[probe["httpGet"]["port"]] == int(env["METRICS_PORT"]), doc["metadata"]["name"]
            found[doc["metadata"]["name"]] = (container["args"], probes, int(env["METRICS_PORT"]))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_relays_and_workers_are_probed_on_the_endpoint_their_process_serves(
    rendered: Rendered, tmp_path: Path
) -> None:
    """A real relay and a real worker, their database and broker unreachable, answer their probes.

    A liveness probe must not fail because a dependency is down (the process retries; restarting it
    would not help), and it must ask for a path the process serves on the port METRICS_PORT opens.
    """
    probes = relay_and_worker_probes(rendered)
    paths = {(kind, probe["httpGet"]["path"]) for _, found, _ in probes.values() for kind, probe in found.items()}
    assert paths == {("livenessProbe", "/health/live"), ("readinessProbe", "/metrics")}
    unreachable = f"127.0.0.1:{free_port()}"
    for name, wanted in (("customer-relay", "relay_published_total"), ("analytics-projector", "events_applied_total")):
        args, found, _ = probes[name]
        port = free_port()
        service = args[1].upper()
        env = {**os.environ, "ENVIRONMENT": "test", "METRICS_PORT": str(port), "KAFKA_BOOTSTRAP_SERVERS": unreachable,
               f"{service}_DATABASE_URL": f"postgresql://c360:c360@{unreachable}/nothing",
               "FAUST_DATADIR": str(tmp_path / "faust"), "LOG_LEVEL": "WARNING"}
        process = subprocess.Popen([sys.executable, "-m", "shared.cli", *args], env=env, cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for kind, probe in found.items():
                answer = _poll(f"http://127.0.0.1:{port}{probe['httpGet']['path']}", process)
                assert answer.status_code == 200, (name, kind)
                if kind == "livenessProbe":  # the work loop beats while it retries its dependencies
                    assert answer.json()["status"] == "alive", (name, answer.text)
                else:
                    assert wanted in answer.text, (name, kind)
            assert process.poll() is None, f"{name} exited with its dependencies down"
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _poll(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors = process.stderr.read()[-2000:] if process.stderr else b""
            raise AssertionError(f"the process exited ({process.returncode}): {errors!r}")
        try:
            return httpx.get(url, timeout=5.0)
        except httpx.TransportError:
            time.sleep(0.2)  # the process is still starting: nothing to wait on but the port
    raise AssertionError(f"nothing answered {url} within {timeout}s")
