"""docs/asyncapi.yaml as subscribers load it: through the official AsyncAPI parser (npm ``@asyncapi/parser``).

Code generators and validators downstream are built on that parser, so "our YAML looks right" is not
enough: the parser itself must accept the document with zero errors. It is installed by
``deploy/tools/npm/install.sh`` (``npm ci`` of a pinned, integrity-checked lock) into the git-ignored
``.local/tools/npm``; a machine without node fails here loudly, it never skips.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from shared.schemagen import REPO_ROOT

TOOLS = REPO_ROOT / "deploy" / "tools" / "npm"
VALIDATE = TOOLS / "validate-asyncapi.cjs"
DOCUMENT = REPO_ROOT / "docs" / "asyncapi.yaml"


@pytest.fixture(scope="module")
def asyncapi_parser() -> Path:
    """The installed parser's folder (installed on first use; a second run costs nothing)."""
    result = subprocess.run(["bash", str(TOOLS / "install.sh")], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.fail(f"deploy/tools/npm/install.sh failed ({result.returncode}):\n{result.stderr[-4000:]}",
                    pytrace=False)
    folder = subprocess.run(["bash", str(TOOLS / "install.sh"), "--print"], capture_output=True, text=True,
                            check=True).stdout.strip()
    return Path(folder)


def parse(document: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", str(VALIDATE), str(document)], capture_output=True, text=True, timeout=300,
                          check=False)


def test_the_official_asyncapi_parser_accepts_the_published_document(asyncapi_parser: Path) -> None:
    result = parse(DOCUMENT)
    assert result.returncode == 0, f"@asyncapi/parser rejected docs/asyncapi.yaml:\n{result.stdout}{result.stderr}"
    assert "is valid AsyncAPI 3.0.0" in result.stdout


def test_the_parser_run_fails_on_a_reference_that_does_not_resolve(asyncapi_parser: Path, tmp_path: Path) -> None:
    """The check can fail: a payload pointing at a schema that is not in the document is an error."""
    document = yaml.safe_load(DOCUMENT.read_text())
    message = next(iter(document["components"]["messages"].values()))
    message["payload"] = {"$ref": "#/$defs/Nowhere"}
    broken = tmp_path / "asyncapi.yaml"
    broken.write_text(yaml.safe_dump(document, sort_keys=False))
    result = parse(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "invalid-ref" in result.stdout


def test_the_parser_is_pinned_exactly_with_integrity() -> None:
    import json

    manifest = json.loads((TOOLS / "package.json").read_text())
    lock = json.loads((TOOLS / "package-lock.json").read_text())
    pinned = manifest["dependencies"]["@asyncapi/parser"]
    assert pinned.split(".")[0] == "3" and pinned.replace(".", "").isdigit()
    assert lock["packages"]["node_modules/@asyncapi/parser"]["version"] == pinned
    unverified = [name for name, entry in lock["packages"].items() if name and not entry.get("integrity")]
    assert unverified == []
