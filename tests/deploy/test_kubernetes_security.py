"""deploy/k8s: every rendered workload runs a pinned image (prod: the release version), and Checkov, a
Kubernetes security linter, finds nothing in either overlay beyond the few exceptions the runbook
explains."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import OVERLAYS, REPO, Rendered, Tools

RELEASE = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
DIGEST = r"(@sha256:[0-9a-f]{64})?"
PINNED = {
    "prod": re.compile(rf"ghcr\.io/customer360/customer360:{re.escape(RELEASE)}{DIGEST}"),
    "dev": re.compile(rf"customer360:dev{DIGEST}"),
}
"""The image every workload of an overlay must run: prod the release (pyproject's version), optionally
with its digest; dev the tag ``docker build -t customer360:dev`` and docker compose use."""

EXCEPTIONS = {
    "prod": {"CKV_K8S_35", "CKV_K8S_43"},
    "dev": {"CKV_K8S_35", "CKV_K8S_43", "CKV_K8S_15"},
}
"""Checkov checks an overlay deliberately skips (by annotation on its workloads); docs/runbook.md says why."""

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "Pod":
        spec: dict[str, Any] = doc["spec"]
    elif doc["kind"] == "CronJob":
        spec = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        spec = doc["spec"]["template"]["spec"]
    return spec


def images(docs: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """(where, image) for every container, init container and ephemeral container of every workload."""
    for doc in docs:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        spec = pod_spec(doc)
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for container in spec.get(key, []):
                yield f"{doc['kind']}/{doc['metadata']['name']} {key}/{container['name']}", container.get("image", "")


def test_the_release_version_is_a_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+([-.+][0-9A-Za-z.]+)?", RELEASE), RELEASE


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_runs_the_pinned_image(rendered: Rendered, overlay: str) -> None:
    found = list(images(rendered[overlay]))
    assert len(found) >= 17, found
    for where, image in found:
        name = image.split("@", 1)[0].rsplit("/", 1)[-1]
        assert ":" in name, f"{where}: {image!r} has no tag"
        assert not name.endswith(":latest"), f"{where}: {image!r} is :latest"
        assert PINNED[overlay].fullmatch(image), f"{where}: {image!r} is not {PINNED[overlay].pattern}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prod_pulls_its_image_on_every_start(rendered: Rendered, overlay: str) -> None:
    policies = {c.get("imagePullPolicy") for d in rendered[overlay] if d["kind"] in WORKLOAD_KINDS
                for c in pod_spec(d)["containers"]}
    # dev runs an image loaded into the cluster by hand, which no registry serves.
    assert policies == ({"Always"} if overlay == "prod" else {None})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_selected_by_the_platform_network_policies(rendered: Rendered, overlay: str) -> None:
    """The base's NetworkPolicies select ``app.kubernetes.io/part-of: customer360``; a pod without the
    label (an overlay's own Job, say) would run with no policy at all."""
    for doc in rendered[overlay]:
        if doc["kind"] in WORKLOAD_KINDS:
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert labels.get("app.kubernetes.io/part-of") == "customer360", doc["metadata"]["name"]


def checkov(tools: Tools, manifest: Path) -> dict[str, Any]:
    """Checkov's JSON report on ``manifest`` (Kubernetes checks only, offline; not ``--quiet``, which
    drops the skipped checks from the report)."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}
    result = subprocess.run(
        [str(tools.checkov), "--file", str(manifest), "--framework", "kubernetes", "--skip-download",
         "--output", "json", "--compact"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode in (0, 1), f"checkov failed to run ({result.returncode}):\n{result.stderr[-4000:]}"
    report = json.loads(result.stdout)
    assert isinstance(report, dict) and report["check_type"] == "kubernetes", result.stdout[:2000]
    return report


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_finds_nothing_in_the_rendered_overlay(
    tools: Tools, rendered: Rendered, overlay: str, tmp_path: Path
) -> None:
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(rendered[overlay], sort_keys=False))
    report = checkov(tools, manifest)
    summary = report["summary"]
    assert summary["parsing_errors"] == 0 and summary["resource_count"] >= len(rendered[overlay]) // 2, summary
    assert summary["passed"] > 1000, summary
    failed = [f"{f['check_id']} {f['check_name']}: {f['resource']}" for f in report["results"]["failed_checks"]]
    assert not failed, "\n".join(failed)

    skipped = report["results"].get("skipped_checks", [])
    assert {s["check_id"] for s in skipped} == EXCEPTIONS[overlay]
    # Narrow: only workloads skip anything, and every skip points at its explanation.
    assert all(s["resource"].split(".", 1)[0] in WORKLOAD_KINDS for s in skipped), skipped
    assert all("docs/runbook.md" in s["check_result"]["suppress_comment"] for s in skipped), skipped


def test_the_runbook_explains_every_checkov_exception() -> None:
    runbook = (REPO / "docs" / "runbook.md").read_text()
    match = re.search(r"^### Kubernetes security linter\n(.*?)(?=^##)", runbook, flags=re.M | re.S)
    assert match, "docs/runbook.md has no '### Kubernetes security linter' section"
    for check in set().union(*EXCEPTIONS.values()):
        assert check in match.group(1), f"the runbook does not explain {check}"
