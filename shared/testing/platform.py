"""The real platform as processes, for tests that run it whole (e2e, demo, privacy) or break it (chaos, security).

``start_platform`` runs the chosen APIs, outbox relays and workers exactly as production runs them
(``c360 api|relay|worker``), on spare ports, against fresh databases cloned from migrated templates
and a unique ``KAFKA_TOPIC_PREFIX``. The returned ``RunningPlatform`` can ``kill`` (SIGKILL by
default: no clean shutdown, no flush) and ``restart`` any one process, and ``stop`` stops exactly
what it started, by pid. A test folder hands its tests a ``PlatformView`` of it (URLs, tokens,
clients), and ``load_demo`` replays the demo's history through its APIs.

``PrivateKafka`` and ``PrivatePostgres`` start a second broker or database cluster on spare ports
through the project's own scripts (``deploy/local/kafka.sh`` and ``postgres.sh``) under a temporary
``C360_HOME``: the broker and server on the default ports are shared with everything else on the
machine, so a test that stops "the" broker or "the" database stops only its own.

Everything here blocks (subprocesses, polling): call it from synchronous tests, or from a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx

from shared.ops.service import SERVICE_NAMES, load_service
from shared.outbox.topics import delete_topics, ensure_topics, platform_topics
from shared.settings import PlatformSettings
from shared.testing.plugin import REPO_ROOT, DatabaseFactory
from shared.web.auth import mint_token

T = TypeVar("T")

SERVICES: Final = SERVICE_NAMES

ARTIFACTS: Final = REPO_ROOT / "test-artifacts"


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh loop in a worker thread (safe whatever loop runs here)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass
class RunningPlatform:
    """Processes of the platform, their URLs and databases, and the means to break them."""

    name: str
    urls: dict[str, str]
    dsns: dict[str, str]
    env: dict[str, str]
    settings: PlatformSettings
    log_dir: Path
    commands: dict[str, list[str]] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        """The topic prefix every process of this platform uses."""
        return self.settings.kafka_topic_prefix

    def topic(self, name: str) -> str:
        """Physical name of a logical topic (``customer.events`` → ``<prefix>customer.events``)."""
        return self.settings.topic(name)

    def token(self, *scopes: str, customer_id: str | None = None, ttl_seconds: int = 3600) -> str:
        """A token these processes accept (its subject names the platform, e.g. ``e2e-tester``, in audit trails)."""
        return mint_token(self.settings, f"{self.name}-tester", scopes, customer_id=customer_id,
                          ttl_seconds=ttl_seconds)

    @property
    def admin_token(self) -> str:
        """An admin token valid for four hours."""
        return self.token("admin", ttl_seconds=4 * 3600)

    def url(self, service: str, path: str) -> str:
        """Absolute URL of ``path`` on ``service``'s API."""
        return f"{self.urls[service]}{path}"

    def start(self, name: str) -> subprocess.Popen[bytes]:
        """(Re)start the process called ``name`` (e.g. ``customer-api``, ``analytics-projector``)."""
        current = self.processes.get(name)
        if current is not None and current.poll() is None:
            raise RuntimeError(f"{name} is still running (pid {current.pid})")
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(self.commands[name], cwd=REPO_ROOT, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes[name] = process
        return process

    def run(self, args: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a one-off command (the demo loader, a rebuild) with these processes' environment."""
        return subprocess.run(args, cwd=REPO_ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def start_copy(self, name: str, copy_name: str) -> subprocess.Popen[bytes]:
        """Start a second instance of ``name`` (e.g. another worker in the same consumer group)."""
        self.commands[copy_name] = list(self.commands[name])
        return self.start(copy_name)

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL, timeout: float = 30.0) -> bool:
        """Send ``sig`` (SIGKILL: no clean shutdown) to ``name`` and wait until it is gone.

        Returns False when the process ignored ``sig`` for ``timeout`` seconds and had to be SIGKILLed.
        """
        process = self.processes[name]
        if process.poll() is None:
            os.kill(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            return False
        return True

    def restart(self, name: str) -> None:
        """Start ``name`` again after a kill and, for an API, wait until it is ready."""
        self.start(name)
        if name.endswith("-api"):
            self.wait_ready([name.removesuffix("-api")])

    def alive(self, name: str) -> bool:
        """Whether the process ``name`` is running."""
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def wait_ready(self, services: Iterable[str] | None = None, timeout: float = 120.0,
                   *, live_only: bool = False) -> None:
        """Block until every named API answers ``/health/ready`` (or ``/health/live``) with 200."""
        probe = "/health/live" if live_only else "/health/ready"
        pending = {s: self.urls[s] for s in (services or self.urls)}
        deadline = time.monotonic() + timeout
        while pending:
            for service, url in list(pending.items()):
                process = self.processes[f"{service}-api"]
                if process.poll() is not None:
                    raise RuntimeError(f"{service}-api exited with {process.returncode}; "
                                       f"see {self.log_dir}/{service}-api.log")
                try:
                    if httpx.get(f"{url}{probe}", timeout=3.0).status_code == 200:
                        del pending[service]
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
            if pending:
                time.sleep(0.3)

    def stop(self) -> None:
        """SIGTERM every process still running, SIGKILL those that do not stop within 15 s."""
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@dataclass
class PlatformView:
    """What a test folder's fixture hands its tests of a ``RunningPlatform``; subclass it to add more.

    The tests see URLs, tokens and clients, not processes: the fixture alone starts and stops those.
    """

    running: RunningPlatform

    @property
    def urls(self) -> dict[str, str]:
        """Base URL of each service's API."""
        return self.running.urls

    @property
    def admin_token(self) -> str:
        """An admin token these processes accept."""
        return self.running.admin_token

    def token(self, *scopes: str, customer_id: str | None = None) -> str:
        """A token with ``scopes`` (and, for self-service, the customer it belongs to)."""
        return self.running.token(*scopes, customer_id=customer_id)

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client that sends ``token`` (an admin token by default)."""
        return httpx.Client(headers={"Authorization": f"Bearer {token or self.admin_token}"}, timeout=30.0)


def start_platform(
    *,
    database_factory: DatabaseFactory,
    kafka_bootstrap: str,
    services: Iterable[str] = SERVICES,
    workers: Mapping[str, Iterable[str]] | None = None,
    relays: bool | Iterable[str] = True,
    extra_env: Mapping[str, str] | None = None,
    name: str = "platform",
    partitions: int = 2,
    log_dir: Path | None = None,
) -> RunningPlatform:
    """Start APIs, relays and workers of ``services`` on fresh databases and topics; wait until ready.

    ``workers`` narrows the workers per service (default: every worker its ``SERVICE`` declares);
    ``relays`` is all or nothing, or the services whose outbox relay runs. Logs go to ``log_dir``
    (appended to), by default a new ``test-artifacts/<name>-<id>/``. The caller must ``stop_platform``
    it (use try/finally).
    """
    chosen = tuple(services)
    run_id = uuid.uuid4().hex[:8]
    log_dir = log_dir if log_dir is not None else ARTIFACTS / f"{name}-{run_id}"
    log_dir.mkdir(parents=True, exist_ok=True)
    relayed = (set(chosen) if relays else set()) if isinstance(relays, bool) else set(relays)
    settings = PlatformSettings(environment="test", kafka_bootstrap_servers=kafka_bootstrap,
                                kafka_topic_prefix=f"{name[:6]}{run_id}.", kafka_topic_partitions=partitions)
    secret = (extra_env or {}).get("AUTH_JWT_SECRET")
    if secret:
        settings = settings.model_copy(update={"auth_jwt_secret": secret})
    ensure_topics(kafka_bootstrap, platform_topics(settings))
    dsns = {s: run_blocking(database_factory.create(s)) for s in chosen}
    urls = {s: f"http://127.0.0.1:{free_port()}" for s in chosen}
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "KAFKA_TOPIC_PARTITIONS": str(partitions),
        "PYTHONUNBUFFERED": "1",
        # No quiet hours (start = end) unless a test asks for them: these processes read the wall
        # clock, and from 21:00 to 08:00 in a customer's zone every offer would be deferred, so a
        # test's outcome would depend on the hour it runs (quiet hours are tested with a FixedClock).
        "CAMPAIGNS_QUIET_HOURS_START": "00:00",
        "CAMPAIGNS_QUIET_HOURS_END": "00:00",
        **(extra_env or {}),
    }
    for s in SERVICES:
        env.pop(f"{s.upper()}_DATABASE_URL", None)
    for s in chosen:
        env[f"{s.upper()}_DATABASE_URL"] = dsns[s]
        env[f"{s.upper()}_HTTP_PORT"] = urls[s].rsplit(":", 1)[1]
        env[f"{s.upper()}_API_URL"] = urls[s]
    if "customer" in chosen:
        env["ANALYTICS_CUSTOMER_API_URL"] = urls["customer"]
    platform = RunningPlatform(name=name, urls=urls, dsns=dsns, env=env, settings=settings, log_dir=log_dir)
    c360 = str(Path(sys.executable).parent / "c360")
    for s in chosen:
        platform.commands[f"{s}-api"] = [c360, "api", s]
        if s in relayed:
            platform.commands[f"{s}-relay"] = [c360, "relay", s]
        names = load_service(s).workers if workers is None else workers.get(s, ())
        for worker in names:
            platform.commands[f"{s}-{worker}"] = [c360, "worker", s, worker]
    try:
        for process_name in platform.commands:
            platform.start(process_name)
        platform.wait_ready()
    except BaseException:
        stop_platform(platform, database_factory)
        raise
    return platform


def stop_platform(platform: RunningPlatform, database_factory: DatabaseFactory | None = None,
                  *, drop: bool = True) -> None:
    """Stop every process, then drop the databases and delete the topics it used."""
    platform.stop()
    if drop and database_factory is not None:
        run_blocking(database_factory.drop([dsn.rsplit("/", 1)[1] for dsn in platform.dsns.values()]))
    if drop:
        # The broker may be a private one that is already gone.
        with contextlib.suppress(Exception):
            delete_topics(platform.settings.kafka_bootstrap_servers, platform.prefix)


def load_demo(platform: RunningPlatform, *, customers: int, months: int, seed: int, as_of: datetime) -> str:
    """Replay the demo (``python -m demo``) through the platform's APIs; its output, also in ``demo.log``.

    ``as_of`` is the simulated present the history ends at: the caller builds the same plan from it
    to know what to expect. Raises when the demo fails.
    """
    started = time.monotonic()
    demo = platform.run([sys.executable, "-m", "demo", "--customers", str(customers), "--months", str(months),
                         "--seed", str(seed), "--as-of", as_of.isoformat(), "--no-progress",
                         "--token", platform.admin_token], timeout=600)
    output = demo.stdout + demo.stderr + f"\n(load took {time.monotonic() - started:.1f}s)\n"
    (platform.log_dir / "demo.log").write_text(output)
    if demo.returncode != 0:
        raise RuntimeError(f"the demo failed: {demo.stderr[-2000:]}")
    return output


class _PrivateInfra:
    """A temporary ``C360_HOME`` and a script of ``deploy/local`` run with private ports."""

    script: str = ""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="c360-private-"))
        # PostgreSQL runs as the postgres user when we are root: it must be able to enter the folder.
        self.home.chmod(0o755)
        self.env = {**os.environ, "C360_HOME": str(self.home), **env}

    def _run(self, action: str, timeout: float = 180.0) -> None:
        result = subprocess.run([str(REPO_ROOT / "deploy" / "local" / self.script), action], env=self.env,
                                cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{self.script} {action} failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")

    def start(self) -> None:
        """Start (or start again, on the same data) the private server."""
        self._run("start")

    def stop(self) -> None:
        """Stop the private server (its data stays for a later ``start``)."""
        self._run("stop")

    def destroy(self) -> None:
        """Stop the server and delete its data."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.home, ignore_errors=True)


class PrivateKafka(_PrivateInfra):
    """A second single-node KRaft broker on spare ports, reusing the cached jars of ``.local``."""

    script = "kafka.sh"

    def __init__(self, heap: str = "-Xms128m -Xmx512m") -> None:
        self.port = free_port()
        self.controller_port = free_port()
        super().__init__({"KAFKA_PORT": str(self.port), "KAFKA_CONTROLLER_PORT": str(self.controller_port),
                          "KAFKA_HEAP_OPTS": heap, "KAFKA_BOOTSTRAP_SERVERS": ""})
        libs = REPO_ROOT / ".local" / "kafka" / "libs"
        (self.home / "kafka").mkdir()
        (self.home / "kafka" / "libs").symlink_to(libs)

    @property
    def bootstrap(self) -> str:
        """Its bootstrap servers."""
        return f"127.0.0.1:{self.port}"


class PrivatePostgres(_PrivateInfra):
    """A second PostgreSQL cluster on a spare port (``c360``/``c360``), in a temporary folder."""

    script = "postgres.sh"

    def __init__(self) -> None:
        self.port = free_port()
        super().__init__({"PGPORT": str(self.port), "PGUSER": "c360", "PGPASSWORD": "c360"})

    @property
    def admin_dsn(self) -> str:
        """A DSN allowed to create databases on it."""
        return f"postgresql://c360:c360@127.0.0.1:{self.port}/postgres"
