"""The start-up benchmark times a warm ``make up`` only when the local platform is really up."""

from __future__ import annotations

import os
from pathlib import Path

from bench.startup import local_platform_running


def test_the_platform_counts_as_running_only_when_every_pid_file_names_a_live_process(tmp_path: Path) -> None:
    assert not local_platform_running(tmp_path)  # nothing started
    (tmp_path / "proc-customer-api.pid").write_text(f"{os.getpid()}\n")
    assert local_platform_running(tmp_path)
    (tmp_path / "proc-customer-relay.pid").write_text("999999999\n")  # no such process
    assert not local_platform_running(tmp_path)
    (tmp_path / "proc-customer-relay.pid").write_text("not a pid")
    assert not local_platform_running(tmp_path)
