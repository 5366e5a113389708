"""Figures, the table they print as, the JSON they are saved to (``bench/results/``), and the docs page.

``docs/performance.md`` is written from the same figures by ``python -m bench --write-docs``: the
machine description, the sizes used and the table, never typed by hand.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"
DOCS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


@dataclass(frozen=True)
class Figure:
    """One measured figure; ``target`` is a floor (``>=``) or a ceiling (``<=``) as ``op`` says."""

    bench: str
    name: str
    value: float
    unit: str
    target: float | None = None
    op: str = ">="
    comparison: str = ""
    ratio: float | None = None

    @property
    def passed(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.op == ">=" else self.value <= self.target


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: every reported latency was really observed)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _first_line_with(path: str, prefix: str) -> str:
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _server_versions() -> dict[str, str]:
    import asyncio

    import asyncpg

    from bench.setup import ADMIN_DSN, BOOTSTRAP

    versions: dict[str, str] = {}

    async def postgres() -> str:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            return str(await conn.fetchval("show server_version"))
        finally:
            await conn.close()

    try:
        versions["postgresql"] = asyncio.run(postgres())
    except (OSError, asyncpg.PostgresError):
        versions["postgresql"] = "unreachable"
    versions["kafka"] = f"broker at {BOOTSTRAP}"
    return versions


def machine() -> dict[str, str]:
    """What the figures were measured on: CPU, memory, load, Python and the servers."""
    import os
    from importlib.metadata import PackageNotFoundError, version

    libraries = []
    for name in ("asyncpg", "kafka-python", "aiokafka", "faust-streaming", "orjson", "eventsourcing", "psycopg"):
        try:
            libraries.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return {
        "cpu": _first_line_with("/proc/cpuinfo", "model name") or platform.processor(),
        "cpus": str(os.cpu_count()),
        "memory": _first_line_with("/proc/meminfo", "MemTotal"),
        "load average at start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "system": platform.platform(),
        "python": platform.python_version(),
        "libraries": ", ".join(libraries),
        **_server_versions(),
    }


def _cells(f: Figure) -> tuple[str, str, str, str, str, str]:
    target = "" if f.target is None else f"{f.op} {f.target:,g}"
    ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
    result = {True: "PASS", False: "FAIL", None: ""}[f.passed]
    value = f"{f.value:,.0f}" if abs(f.value) >= 100 else f"{f.value:,.2f}"
    return f.name, f"{value} {f.unit}", f.comparison, ratio, target, result


def table(figures: Sequence[Figure]) -> str:
    """The one table: figure, value, comparison, ratio, target, pass/fail (grouped by benchmark)."""
    header = f"{'benchmark':<11} {'figure':<48} {'value':>20} {'comparison':<40} {'ratio':>6} {'target':>14} result"
    lines = [header, "-" * len(header)]
    for f in figures:
        name, value, comparison, ratio, target, result = _cells(f)
        lines.append(f"{f.bench:<11} {name:<48} {value:>20} {comparison:<40} {ratio:>6} {target:>14} {result}")
    return "\n".join(lines)


def print_table(figures: Sequence[Figure]) -> str:
    text = table(figures)
    print(text)
    return text


def save(figures: Sequence[Figure], sizes: dict[str, int], seconds: dict[str, float], label: str = "latest") -> Path:
    """Write the figures with the machine description and the sizes used; returns the file."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    payload = {"time": stamp, "machine": machine(), "sizes": sizes, "seconds": seconds,
               "figures": [{**asdict(f), "passed": f.passed} for f in figures]}
    text = json.dumps(payload, indent=2)
    (RESULTS_DIR / f"{stamp}.json").write_text(text)
    path = RESULTS_DIR / f"{label}.json"
    path.write_text(text)
    return path


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def docs_page(result: dict[str, Any], descriptions: dict[str, str]) -> str:
    """``docs/performance.md`` from a saved result (machine, sizes, the table, what each figure means)."""
    figures = [Figure(**{k: v for k, v in f.items() if k != "passed"}) for f in result["figures"]]
    lines = [
        "# Performance",
        "",
        "Generated by `python -m bench --write-docs` from the last `make bench` run "
        f"({result['time']}); do not edit by hand.",
        "",
        "Every figure is measured against the real local Kafka and PostgreSQL, and each comparison is",
        "measured in the same run: the machine is shared and noisy, so absolute numbers drift between runs",
        "while the ratios hold. Re-run one benchmark with `python -m bench --only NAME --size N`.",
        "",
        "## Machine",
        "",
        *[f"- **{k}**: {v}" for k, v in result["machine"].items()],
        "",
        "## Sizes used",
        "",
        "| benchmark | size | seconds | what the size counts |",
        "|---|---:|---:|---|",
        *[f"| {name} | {size:,} | {result.get('seconds', {}).get(name, 0):.0f} | {descriptions.get(name, '')} |"
          for name, size in result["sizes"].items()],
        "",
        "## Results",
        "",
        "| benchmark | figure | value | comparison | ratio | target | result |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for f in figures:
        name, value, comparison, ratio, target, outcome = _cells(f)
        lines.append(f"| {f.bench} | {name.strip()} | {value} | {comparison} | {ratio} | {target} | {outcome} |")
    lines.append("")
    return "\n".join(lines)


class Progress:
    """Progress bars for the long benchmarks (tqdm), switched off for ``--no-progress`` and the smoke."""

    enabled = True

    @classmethod
    def bar(cls, iterable: Any = None, **kwargs: Any) -> Any:
        from tqdm import tqdm

        kwargs.setdefault("leave", False)
        return tqdm(iterable, disable=not cls.enabled, **kwargs)
