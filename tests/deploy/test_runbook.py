"""docs/runbook.md has every procedure SREs need, and the commands it tells them to type exist."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from shared.cli import build_parser
from tests.deploy.conftest import REPO

RUNBOOK = (REPO / "docs" / "runbook.md").read_text()
SECTIONS = {
    "Deploy": ("docker compose up", "kustomize build deploy/k8s/overlays/prod", "c360-migrate"),
    "Scale": ("partitions", "replicas", "KAFKA_TOPIC_PARTITIONS", "consumer_lag"),
    "Rebuild a projection": ("python -m services.analytics.rebuild",),
    "Dead letters: inspect, replay, drain": ("c360 dlq show", "c360 dlq replay", "**Drain**"),
    "Rotate the JWT secret": ("AUTH_JWT_SECRET", "rollout restart"),
    "Erase a customer": ("DELETE /v1/customers/{customer_id}",),
    "Broker outage": ("min.insync.replicas=2", "C360OutboxBacklogAge"),
    "Database failover": ("CloudNativePG", "c360-pg-rw"),
    "Read the dashboards": ("Platform health", "Business", "consumer lag per group and per partition"),
}


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", RUNBOOK, flags=re.M | re.S)
    assert match, f"docs/runbook.md has no section '## {title}'"
    return match.group(1)


@pytest.mark.parametrize("title", SECTIONS)
def test_the_runbook_has_the_procedure(title: str) -> None:
    body = section(title)
    missing = [needle for needle in SECTIONS[title] if needle not in body]
    assert not missing, f"'{title}' does not mention {missing}"


def c360_commands() -> list[str]:
    """Every ``c360 ...`` line of the runbook's code blocks, placeholders filled in."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", RUNBOOK, flags=re.S):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command.startswith("c360 "):
                command = command.replace("<topic>", "customer.events").replace("[--reason R]", "--reason R")
                found.append(command)
    return found


def test_every_c360_command_of_the_runbook_parses() -> None:
    commands = c360_commands()
    assert len(commands) >= 5
    parser = build_parser()
    for command in commands:
        try:
            parser.parse_args(shlex.split(command)[1:])
        except SystemExit as exc:
            raise AssertionError(f"the runbook tells SREs to run `{command}`, which c360 refuses") from exc
    for inline in re.findall(r"`(c360 (?:topics|migrate all|processes|token))`", RUNBOOK):
        parser.parse_args(inline.split()[1:])


def test_the_rebuild_options_the_runbook_names_exist() -> None:
    options = set(re.findall(r"`(--[a-z-]+)", section("Rebuild a projection")))
    assert options
    answer = subprocess.run([sys.executable, "-m", "services.analytics.rebuild", "--help"], capture_output=True,
                            text=True, cwd=REPO, timeout=60, check=True)
    assert [o for o in options if o not in answer.stdout] == []
