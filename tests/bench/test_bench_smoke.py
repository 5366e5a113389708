"""``python -m bench --smoke`` runs every benchmark at a tiny size against the real Kafka and PostgreSQL.

Benchmarks are not tests: this asserts nothing about speed, only that every benchmark ran to the end
and produced numbers (``--smoke`` itself exits non-zero otherwise), and that the saved JSON holds
them, so ``make bench`` cannot rot unnoticed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import uuid

from bench.__main__ import BENCHMARKS
from bench.report import RESULTS_DIR
from shared.testing.plugin import REPO_ROOT


def test_every_benchmark_runs_at_smoke_size_and_reports_numbers() -> None:
    label = f"smoke-{uuid.uuid4().hex[:8]}"
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--label", label],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    saved = RESULTS_DIR / f"{label}.json"
    try:
        result = json.loads(saved.read_text())
    finally:
        saved.unlink(missing_ok=True)
    figures = result["figures"]
    assert {f["bench"] for f in figures} >= set(BENCHMARKS)
    assert all(math.isfinite(f["value"]) for f in figures)
    assert set(result["sizes"]) == set(BENCHMARKS)
    assert "figure" in finished.stdout and "result" in finished.stdout  # the one table was printed
