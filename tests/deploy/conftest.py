"""Fixtures for the deployment tests: the validation tools, the rendered manifests, the process list.

The tools (kustomize, Kubernetes and CRD schemas, the Compose schema, promtool, checkov) are
installed on first use by ``deploy/tools/install.sh`` into the git-ignored ``.local/tools/``; a second
run finds them and costs nothing. A failing install fails the session loudly: these tests never skip.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "deploy" / "tools" / "install.sh"
OVERLAYS = ("dev", "prod")
Rendered = dict[str, list[dict[str, Any]]]
"""Overlay name -> the documents kustomize rendered for it."""
KUBERNETES_VERSION = "1.31.0"
"""The Kubernetes version whose OpenAPI schemas the manifests must satisfy (kubernetes-validate)."""
INSTALL_TIMEOUT_SECONDS = 1800
"""A first install builds promtool and kustomize from source: minutes on a fresh, busy 2-core machine."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Whichever deployment test comes first pays for the tools' install, within its own time limit.

    The suite's 300 s per test is for a test's own work; a cold install took longer than that on a
    loaded machine (the fixture then failed once per test, each time at 300 s). A test that already
    has its own limit keeps it.
    """
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(INSTALL_TIMEOUT_SECONDS))


@dataclass(frozen=True)
class Tools:
    root: Path

    @property
    def kustomize(self) -> Path:
        return self.root / "bin" / "kustomize"

    @property
    def compose_schema(self) -> Path:
        return self.root / "schemas" / "compose-spec.json"

    @property
    def crds(self) -> Path:
        return self.root / "schemas" / "crds"

    @property
    def promtool(self) -> Path:
        return self.root / "bin" / "promtool"

    @property
    def checkov(self) -> Path:
        return self.root / "checkov" / "bin" / "checkov"


@pytest.fixture(scope="session")
def tools() -> Tools:
    result = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS)
    if result.returncode != 0:
        pytest.fail(f"deploy/tools/install.sh failed ({result.returncode}):\n{result.stderr[-4000:]}", pytrace=False)
    root = Path(
        subprocess.run(["bash", str(INSTALL), "--print"], capture_output=True, text=True, check=True).stdout.strip()
    )
    python_dir = str(root / "python")
    if python_dir not in sys.path:
        sys.path.append(python_dir)  # appended: the project's own packages keep precedence
    return Tools(root)


@pytest.fixture(scope="session")
def rendered(tools: Tools) -> Rendered:
    """Every overlay rendered by the real kustomize: overlay name -> its documents."""
    out: dict[str, list[dict[str, Any]]] = {}
    for overlay in OVERLAYS:
        result = subprocess.run(
            [str(tools.kustomize), "build", str(REPO / "deploy" / "k8s" / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"kustomize build {overlay} failed:\n{result.stderr}"
        out[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="session")
def processes() -> dict[str, list[str]]:
    """``c360 processes``: process name -> its c360 arguments (``["api", "customer"]``)."""
    from shared.cli import _available_services

    found: dict[str, list[str]] = {}
    for service in _available_services():
        found[f"{service.name}-api"] = ["api", service.name]
        if service.produces:
            found[f"{service.name}-relay"] = ["relay", service.name]
        for worker in service.workers:
            found[f"{service.name}-{worker}"] = ["worker", service.name, worker]
    assert found, "no service is available"
    return found
