"""The schemathesis command line, as an API client's team would run it, over each running API: every check.

``schemathesis run --checks all`` with a bounded number of examples per operation and a fixed seed must
report no failure. What the run allows beyond schemathesis's defaults is written, each with its reason,
in ``tests/fuzz/schemathesis.toml`` (answers that depend on server state, rules between values that JSON
Schema cannot state) and ``tests/fuzz/schemathesis_hooks.py`` (what a correct client does). The report of
each run is kept in ``test-artifacts/schemathesis/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from shared.testing.platform import RunningPlatform

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]

SERVICES = ("customer", "ticketing", "campaigns", "analytics")
REPO = Path(__file__).parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
ARTIFACTS = REPO / "test-artifacts" / "schemathesis"
MAX_EXAMPLES = 10
SEED = 1


def _self_service_token(platform: RunningPlatform) -> str:
    """A token of a registered customer, for the self-service operations (``/v1/me``)."""
    registered = httpx.post(
        platform.url("customer", "/v1/customers"),
        json={"name": "Schemathesis Customer", "email": f"st-{uuid4().hex[:12]}@example.com"},
        headers={"Authorization": f"Bearer {platform.admin_token}"},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    return platform.token("self", customer_id=registered.json()["id"])


@pytest.mark.parametrize("service", SERVICES)
def test_schemathesis_with_every_check_finds_no_failure(fuzz_platform: RunningPlatform, service: str,
                                                          tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG),
        "run", fuzz_platform.url(service, "/openapi.json"),
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
        "--report", "junit", "--report-junit-path", str(junit),
    ]
    environment = {**os.environ, "C360_ADMIN_TOKEN": fuzz_platform.admin_token,
                   "C360_SELF_SERVICE_TOKEN": _self_service_token(fuzz_platform)}
    run = subprocess.run(command, capture_output=True, text=True, timeout=840, check=False, cwd=REPO,
                         env=environment)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{service}.txt").write_text(run.stdout + run.stderr)
    report = junit.read_text() if junit.exists() else ""
    assert report.count("<testcase") >= 5, f"schemathesis tested too little:\n{run.stdout[-4000:]}{run.stderr[-2000:]}"
    assert run.returncode == 0, f"schemathesis found failures in {service}:\n{run.stdout[-30000:]}"
