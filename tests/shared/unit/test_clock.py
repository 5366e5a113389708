"""The clock offset of shared.clock: honoured in local and test environments only (the night pass of make test)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import CLOCK_OFFSET_VARIABLE, SystemClock, clock_offset


def test_local_and_test_environments_take_the_offset() -> None:
    assert clock_offset({CLOCK_OFFSET_VARIABLE: "3600"}) == timedelta(hours=1)
    assert clock_offset({CLOCK_OFFSET_VARIABLE: "90", "ENVIRONMENT": "test"}) == timedelta(seconds=90)


def test_production_and_an_unset_variable_keep_the_wall_clock() -> None:
    assert clock_offset({CLOCK_OFFSET_VARIABLE: "3600", "ENVIRONMENT": "prod"}) == timedelta(0)
    assert clock_offset({}) == timedelta(0)


@pytest.mark.clock
def test_the_system_clock_runs_at_the_offset_this_run_was_given() -> None:
    expected = clock_offset(os.environ)
    drift = SystemClock().now() - datetime.now(UTC) - expected
    assert abs(drift) < timedelta(seconds=5)
