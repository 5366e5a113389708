"""The Dockerfile keeps the properties the deployment relies on (it is built in CI where Docker runs)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def stages() -> list[str]:
    return re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]


def test_multi_stage_on_python_3_11_slim() -> None:
    assert len(stages()) == 2
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE, re.M)


def test_dependencies_have_their_own_layer_before_the_sources() -> None:
    build = stages()[0]
    deps, install, sources = (
        build.index(s) for s in ("COPY pyproject.toml constraints.txt", "-c constraints.txt", "COPY shared")
    )
    assert deps < install < sources


def test_final_image_has_no_build_tools_runs_as_non_root_and_checks_health() -> None:
    runtime = stages()[1]
    assert "build-essential" not in runtime and "apt-get install" not in runtime
    assert re.search(r"^USER 10001", runtime, re.M)
    assert re.search(r"^HEALTHCHECK ", runtime, re.M)
    assert 'ENTRYPOINT ["c360"]' in runtime


def test_dockerignore_lets_in_only_what_the_image_needs() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*")] == "*"
    assert {"!shared/", "!services/", "!pyproject.toml", "!constraints.txt"} <= set(lines)


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 on the two paths the HEALTHCHECK may ask for, 404 elsewhere; records what was asked."""

    asked: list[str] = []

    def do_GET(self) -> None:
        type(self).asked.append(self.path)
        self.send_response(200 if self.path in ("/health/live", "/metrics") else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Silence the default stderr log."""


@pytest.fixture
def answering_port() -> Iterator[tuple[int, list[str]]]:
    asked: list[str] = []
    handler = type("Handler", (_Recorder,), {"asked": asked})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], asked
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_healthcheck(tmp_path: Path, argv: list[str], env: dict[str, str]) -> int:
    """Run the image's c360-healthcheck with ``argv`` as PID 1's command line."""
    script = DOCKERFILE.split("<<'PY' /usr/local/bin/c360-healthcheck\n", 1)[1].split("\nPY\n", 1)[0]
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"".join(arg.encode() + b"\0" for arg in ["/opt/venv/bin/python", "/opt/venv/bin/c360", *argv]))
    path = tmp_path / "c360-healthcheck"
    path.write_text(script.replace("/proc/1/cmdline", str(cmdline)))
    result = subprocess.run([sys.executable, str(path)], env={"PATH": "/usr/bin:/bin", **env}, timeout=30)
    return result.returncode


def test_healthcheck_asks_an_api_for_health_live_on_its_port(
    tmp_path: Path, answering_port: tuple[int, list[str]], closed_port: int
) -> None:
    port, asked = answering_port
    assert run_healthcheck(tmp_path, ["api", "customer", "--port", str(port)], {}) == 0
    assert run_healthcheck(tmp_path, ["api", "ticketing"], {"TICKETING_HTTP_PORT": str(port)}) == 0
    assert asked == ["/health/live", "/health/live"]
    assert run_healthcheck(tmp_path, ["api", "customer", "--port", str(closed_port)], {}) == 1


def test_healthcheck_asks_a_relay_or_worker_for_health_live_on_metrics_port(
    tmp_path: Path, answering_port: tuple[int, list[str]], closed_port: int
) -> None:
    port, asked = answering_port
    assert run_healthcheck(tmp_path, ["relay", "customer"], {"METRICS_PORT": str(port)}) == 0
    assert run_healthcheck(tmp_path, ["worker", "analytics", "projector"], {"METRICS_PORT": str(port)}) == 0
    assert asked == ["/health/live", "/health/live"]
    assert run_healthcheck(tmp_path, ["worker", "analytics", "projector"], {"METRICS_PORT": str(closed_port)}) == 1
    assert run_healthcheck(tmp_path, ["worker", "analytics", "projector"], {}) == 0  # no endpoint: alive is healthy
    assert asked == ["/health/live", "/health/live"]
