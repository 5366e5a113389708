"""The local infrastructure scripts fail clearly, and start nothing, when they cannot do their job."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.testing.plugin import REPO_ROOT

SCRIPTS = REPO_ROOT / "deploy" / "local"


@pytest.fixture
def squatter() -> Iterator[int]:
    """A plain TCP listener that is neither Kafka nor PostgreSQL, on a free port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def run(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPTS / script), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_kafka_refuses_a_port_taken_by_something_else_and_names_it(squatter: int, tmp_path: Path) -> None:
    result = run("kafka.sh", "start", env={"KAFKA_PORT": str(squatter), "C360_HOME": str(tmp_path)})
    assert result.returncode != 0
    assert f"port {squatter} is taken by" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr  # the process holding it is named
    assert not (tmp_path / "run" / "kafka.pid").exists()


def test_postgres_refuses_a_port_taken_by_something_else_and_names_it(squatter: int, tmp_path: Path) -> None:
    result = run("postgres.sh", "check", env={"PGPORT": str(squatter), "C360_HOME": str(tmp_path)})
    assert result.returncode != 0
    assert f"port {squatter} is taken by" in result.stderr
    assert not (tmp_path / "run" / "postgres.pid").exists()


def test_kafka_without_java_says_so(tmp_path: Path) -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    libs = REPO_ROOT / ".local" / "kafka" / "libs"
    home = tmp_path / "home"
    (home / "kafka").mkdir(parents=True)
    (home / "kafka" / "libs").symlink_to(libs)  # reuse the cached jars: only Java is missing
    no_java = tmp_path / "bin"
    no_java.mkdir()
    for tool in ("bash", "ss", "cat", "mkdir", "sed", "grep", "head", "dirname", "tail", "setsid", "sleep", "seq",
                 "rm", "kill"):
        found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if found:
            (no_java / tool).symlink_to(found)
    result = run("kafka.sh", "start", env={"KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(port + 1),
                                           "C360_HOME": str(home), "PATH": str(no_java)})
    assert result.returncode != 0
    assert "Java 17+ is needed" in result.stderr
    assert not (home / "run" / "kafka.pid").exists()


def test_a_second_start_finds_the_infrastructure_running_and_does_nothing() -> None:
    for script, word in (("kafka.sh", "Kafka"), ("postgres.sh", "PostgreSQL")):
        result = run(script, "start", env={})
        assert result.returncode == 0, result.stderr
        assert "already" in result.stdout or "using the" in result.stdout, f"{word}: {result.stdout}"
