"""The demo drives the services through their HTTP APIs only, and ``make up`` loads it the first time."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from shared.testing.plugin import REPO_ROOT

DEMO = REPO_ROOT / "demo"
STORAGE_CLIENTS = ("asyncpg", "psycopg", "psycopg2", "sqlalchemy", "aiokafka", "kafka", "faust", "confluent_kafka")


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_demo_never_talks_to_a_database_or_the_broker() -> None:
    modules = {m for path in DEMO.glob("*.py") for m in imported_modules(path)}
    assert "httpx" in modules
    assert not {m for m in modules if m.split(".")[0] in STORAGE_CLIENTS}, "the demo uses the APIs only"
    ours = {m for m in modules if m.startswith(("services.", "shared."))}
    allowed = {"services.campaigns.domain.ready_made", "shared.settings", "shared.web.auth"}
    assert ours <= allowed, ours - allowed  # campaign documents to POST; the token it mints


def test_make_up_loads_the_demo_the_first_time_then_keeps_it_live() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    up = re.search(r"^up:.*\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert up and "$(LOCAL)/demo.sh" in up.group(1), "make up runs deploy/local/demo.sh"
    script = (REPO_ROOT / "deploy" / "local" / "demo.sh").read_text()
    first_time = re.search(r'if \[\[ ! -f "\$MARKER" \]\]; then\n(.*?)\nfi\n', script, flags=re.S)
    assert first_time, "the load is guarded by a marker written once it succeeded"
    assert '-m demo "${ARGS[@]}"' in first_time.group(1) and "> \"$MARKER\"" in first_time.group(1)
    assert "--no-progress" not in first_time.group(1), "the first load shows its progress bar"
    assert re.search(r'-m demo "\$\{ARGS\[@\]\}" --live', script), "then the live mode runs in the background"
