"""The platform as real processes for the erasure proof: fresh databases, a unique topic prefix.

Every API, every outbox relay and every consumer that moves personal data or acknowledges an erasure
runs exactly as in production (``c360 api|relay|worker``), started by
``shared.testing.platform.start_platform``. The fixture stops exactly the processes it started, by
pid, then drops its databases and deletes its topics. Logs go to ``test-artifacts/privacy/logs/``.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import pytest

from shared.settings import PlatformSettings
from shared.testing.platform import PlatformView, run_blocking, start_platform, stop_platform
from shared.testing.plugin import REPO_ROOT, DatabaseFactory

ARTIFACTS = REPO_ROOT / "test-artifacts" / "privacy"
WORKERS = {
    "customer": ("erasure-acks",),
    "ticketing": ("customer-replica",),
    "campaigns": ("engine",),
    "analytics": ("projector",),
}
"""The consumers personal data flows through, and the one collecting acknowledgements (schedulers,
timers and sweeps move no personal data and are left out to spare the machine's two cores)."""

in_thread = run_blocking
"""Run a coroutine to completion from these synchronous tests (the name the tests import)."""


class Platform(PlatformView):
    """The running processes, their URLs, databases and environment, and an admin token."""

    @property
    def dsns(self) -> dict[str, str]:
        return self.running.dsns

    @property
    def settings(self) -> PlatformSettings:
        return self.running.settings

    @property
    def prefix(self) -> str:
        return self.running.prefix

    def stop(self, name: str) -> None:
        """Stop one process we started (SIGTERM, then SIGKILL after 15 s)."""
        self.running.kill(name, signal.SIGTERM, timeout=15)

    def run(self, args: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a one-off command with the platform's environment (e.g. a rebuild)."""
        return self.running.run(args, timeout=timeout)


@pytest.fixture(scope="module")
def privacy_platform(database_factory: DatabaseFactory, kafka_bootstrap: str) -> Iterator[Platform]:
    """Every API, relay and personal-data consumer running on fresh databases and topics."""
    running = start_platform(database_factory=database_factory, kafka_bootstrap=kafka_bootstrap, name="privacy",
                             workers=WORKERS, log_dir=ARTIFACTS / "logs")
    try:
        yield Platform(running)
    finally:
        stop_platform(running, database_factory)
