"""Figures, the table they print as, and the JSON they are saved to (``bench/results/``)."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"


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
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, str]:
    import os

    mem = ""
    try:
        with open("/proc/meminfo") as handle:
            mem = handle.readline().split(":")[1].strip()
    except OSError:
        pass
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": str(os.cpu_count()),
            "memory": mem, "system": platform.platform()}


def print_table(figures: Sequence[Figure]) -> str:
    header = f"{'benchmark':<12} {'figure':<44} {'value':>12} {'unit':<8} {'comparison':<30} {'ratio':>7} " \
             f"{'target':>10} {'result':<6}"
    lines = [header, "-" * len(header)]
    for f in figures:
        target = "" if f.target is None else f"{f.op}{f.target:g}"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
        result = {True: "PASS", False: "FAIL", None: ""}[f.passed]
        lines.append(f"{f.bench:<12} {f.name:<44} {f.value:>12.2f} {f.unit:<8} {f.comparison:<30} {ratio:>7} "
                     f"{target:>10} {result:<6}")
    text = "\n".join(lines)
    print(text)
    return text


def save(figures: Sequence[Figure], label: str = "latest") -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{label}.json"
    payload = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
               "figures": [{**asdict(f), "passed": f.passed} for f in figures]}
    path.write_text(json.dumps(payload, indent=2))
    return path
