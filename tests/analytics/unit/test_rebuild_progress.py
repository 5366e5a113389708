"""The rebuild's progress bar says how far, how fast (events/s) and how long still (ETA)."""

from __future__ import annotations

import io
import re

from services.analytics.rebuild import progress_bar


def test_the_progress_bar_shows_events_per_second_and_the_time_left() -> None:
    out = io.StringIO()
    bar = progress_bar(8000, file=out)
    bar.start_t -= 2.0  # two seconds of work so far (tqdm measures from start_t)
    bar.update(2000)
    bar.refresh()
    line = out.getvalue().rsplit("\r", 1)[-1]
    bar.close()
    # 2000 of 8000 in 2 s: ~1000 events/s, ~6 s to go
    assert re.search(r"25%\|.*\| 2\.00k/8\.00k \[00:02<00:0[5-7], (9\d\d|1\.0\dk) events/s\]", line), line


def test_a_rebuild_without_progress_prints_nothing() -> None:
    out = io.StringIO()
    bar = progress_bar(10, enabled=False, file=out)
    bar.update(10)
    bar.close()
    assert out.getvalue() == ""
