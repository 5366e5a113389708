"""The memory benchmark's criterion tells a leak from a bounded cache filling during the warm-up."""

from __future__ import annotations

from bench.memory import GROWTH_TARGET, Sample, figures, trend_per_100k

TOTAL = 1_000_000


def run(rss_at: dict[int, float] | None = None, *, per_event: float = 0.0, start: float = 200.0) -> list[Sample]:
    """A sample every 10,000 events: a base RSS, plus a constant leak per event, plus given steps."""
    samples = []
    for applied in range(0, TOTAL + 1, 10_000):
        step = sum(v for at, v in (rss_at or {}).items() if applied >= at)
        samples.append(Sample(applied, start + per_event * applied / 2**20 + step))
    return samples


def growth(samples: list[Sample]) -> float:
    return next(f for f in figures(samples, TOTAL, peak=0.0) if "growth" in f.name).value


def test_a_cache_that_fills_during_the_warm_up_passes() -> None:
    bounded = run({10_000: 30.0, 100_000: 5.0})  # steps before 25%, then flat
    assert growth(bounded) == 0.0
    assert trend_per_100k([s for s in bounded if s.applied >= TOTAL // 4]) == 0.0


def test_a_leak_of_forty_bytes_per_event_fails() -> None:
    leaking = run(per_event=40)
    assert growth(leaking) > GROWTH_TARGET
    assert 3.5 < trend_per_100k(leaking) < 4.0  # 40 B x 100,000 = 3.8 MiB


def test_one_sample_off_the_trend_does_not_move_the_baseline() -> None:
    samples = run()
    dipped = [Sample(s.applied, s.rss - 40.0) if s.applied == 260_000 else s for s in samples]
    assert growth(dipped) == 0.0
