"""The Dockerfile keeps the properties the deployment relies on (it is built in CI where Docker runs)."""

from __future__ import annotations

import re

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
