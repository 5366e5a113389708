"""pytest plugin: real Kafka and PostgreSQL, isolated per test.

Every test that asks for a database gets a fresh one, cloned from a template that already has the
migrations applied (cloning is much faster than migrating); every test that asks for topics gets
its own prefix. Templates, databases and topics are removed afterwards. Load it from
``tests/conftest.py`` with ``pytest_plugins = ["shared.testing.plugin"]``.

Every database it creates is watched by the contract guard (``shared.testing.contract_guard``):
after each test, the events and outbox records written since the last look must satisfy their
published JSON Schema and AsyncAPI channel, or the test fails. A test that writes a drifting event
on purpose says so with ``@pytest.mark.drifting_events``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import pytest

from shared.ops.service import load_service
from shared.outbox.topics import TopicSpec, delete_topics, ensure_topics, platform_topics
from shared.settings import PlatformSettings
from shared.store.migrations import PLATFORM_MIGRATIONS, migrate
from shared.testing import contract_guard
from shared.testing.infra import Infrastructure, InfrastructureMissing, discover, dsn_with_database
from shared.testing.oidc import LocalOidcProvider, free_port, running_provider

REPO_ROOT = Path(__file__).resolve().parents[2]
_RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
DRIFT_MARKER = "drifting_events"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{DRIFT_MARKER}: the test writes events that break their published contract on purpose; "
        "the contract guard does not fail it",
    )
    contract_guard.activate(contract_guard.ContractGuard())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    guard = contract_guard.active()
    if guard is not None and (guard.events_checked or guard.records_checked):
        terminalreporter.write_line(
            f"contract guard: {guard.events_checked} events and {guard.records_checked} outbox records checked "
            f"against schemas/ and docs/asyncapi.yaml in {guard.seconds:.1f}s"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    guard = contract_guard.active()
    if guard is not None:
        guard.close()
    contract_guard.activate(None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After the test body: the events written meanwhile must satisfy their published contracts."""
    guard = contract_guard.active()
    try:
        result = yield
    except BaseException as failure:
        problems = guard.check() if guard is not None else []
        if problems and item.get_closest_marker(DRIFT_MARKER) is None:
            failure.add_note(_drift_report(problems))
        raise
    problems = guard.check() if guard is not None else []
    if problems and item.get_closest_marker(DRIFT_MARKER) is None:
        pytest.fail(_drift_report(problems), pytrace=False)
    return result


def _drift_report(problems: list[str]) -> str:
    return (
        f"contract guard: {len(problems)} event(s) written during this test break their published contract "
        "(schemas/, docs/asyncapi.yaml):\n  " + "\n  ".join(problems)
    )


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    try:
        infra = discover()
    except InfrastructureMissing as exc:
        pytest.exit(f"REAL INFRASTRUCTURE MISSING: {exc}", returncode=3)
    os.environ.setdefault("ENVIRONMENT", "test")
    yield infra
    infra.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(infrastructure: Infrastructure) -> str:
    """Bootstrap servers of the real broker."""
    return infrastructure.kafka_bootstrap


@pytest.fixture(scope="session")
def postgres_admin_dsn(infrastructure: Infrastructure) -> str:
    """A DSN allowed to create databases on the real server."""
    return infrastructure.postgres_admin_dsn


class DatabaseFactory:
    """Creates per-test databases from per-session templates (platform or a service's schema)."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self._templates: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self.created: list[str] = []

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.admin_dsn)

    async def template(self, service: str | None) -> str:
        name = f"c360tpl_{_RUN_ID}_{service or 'platform'}"
        async with self._lock:
            if name in self._templates:
                return name
            conn = await self._admin()
            try:
                await conn.execute(f'drop database if exists "{name}" with (force)')
                await conn.execute(f'create database "{name}"')
            finally:
                await conn.close()
            target = await asyncpg.connect(dsn_with_database(self.admin_dsn, name))
            try:
                sets = [("platform", PLATFORM_MIGRATIONS)]
                if service:
                    sets += load_service(service).migration_sets()
                await migrate(target, sets)
            finally:
                await target.close()
            self._templates[name] = name
            return name

    async def create(self, service: str | None = None) -> str:
        """A new database (platform tables, plus ``service``'s migrations) and its DSN."""
        template = await self.template(service)
        name = f"c360t_{uuid.uuid4().hex[:12]}"
        conn = await self._admin()
        try:
            await conn.execute(f'create database "{name}" template "{template}"')
        finally:
            await conn.close()
        self.created.append(name)
        dsn = dsn_with_database(self.admin_dsn, name)
        guard = contract_guard.active()
        if guard is not None:
            guard.watch(name, dsn)
        return dsn

    async def drop(self, names: list[str]) -> None:
        """Drop the databases; events written since the guard's last look are checked first."""
        guard = contract_guard.active()
        problems = await guard.check_async(names) if guard is not None else []
        if guard is not None:
            await asyncio.to_thread(guard.forget, names)
        conn = await self._admin()
        try:
            for name in names:
                await conn.execute(f'drop database if exists "{name}" with (force)')
        finally:
            await conn.close()
        if problems:
            raise contract_guard.ContractViolation(_drift_report(problems))


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOidcProvider]:
    """The local OpenID Connect provider (real ``oidc-provider`` process, demo users); fails if it cannot start."""
    yield from running_provider(tmp_path_factory.mktemp("oidc"), free_port())


@pytest.fixture(scope="session")
def database_factory(postgres_admin_dsn: str) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(postgres_admin_dsn)
    yield factory
    asyncio.run(factory.drop(list(factory._templates)))


@pytest.fixture
async def make_database(database_factory: DatabaseFactory) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """``await make_database("customer")`` → DSN of a fresh database with that service's schema."""
    mine: list[str] = []

    async def create(service: str | None = None) -> str:
        dsn = await database_factory.create(service)
        mine.append(dsn.rsplit("/", 1)[1])
        return dsn

    yield create
    await database_factory.drop(mine)


@pytest.fixture
async def fresh_dsn(make_database: Callable[..., Awaitable[str]]) -> str:
    """DSN of a fresh database with the platform tables (event store, outbox, inbox, ...)."""
    return await make_database(None)


@pytest.fixture
def topic_prefix(kafka_bootstrap: str) -> Iterator[str]:
    """A unique topic-name prefix for this test; its topics are deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    yield prefix
    delete_topics(kafka_bootstrap, prefix)


@pytest.fixture
def platform_settings(kafka_bootstrap: str, postgres_admin_dsn: str, topic_prefix: str) -> PlatformSettings:
    """Settings pointing at the real infrastructure with this test's topic prefix (2 partitions)."""
    pg = urlparse(postgres_admin_dsn)
    return PlatformSettings(
        environment="test",
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        kafka_topic_partitions=2,
        postgres_host=pg.hostname or "127.0.0.1",
        postgres_port=pg.port or 5432,
        postgres_user=pg.username or "c360",
        postgres_password=pg.password or "c360",
    )


@pytest.fixture
def make_topics(kafka_bootstrap: str, topic_prefix: str) -> Callable[..., list[str]]:
    """``make_topics("a", "b", partitions=3)`` → physical names, created under this test's prefix."""

    def create(*names: str, partitions: int = 2) -> list[str]:
        physical = [f"{topic_prefix}{name}" for name in names]
        ensure_topics(kafka_bootstrap, [TopicSpec(n, partitions) for n in physical])
        return physical

    return create


@pytest.fixture
def platform_topics_created(platform_settings: PlatformSettings) -> PlatformSettings:
    """All platform topics (and DLQs) exist under this test's prefix."""
    ensure_topics(platform_settings.kafka_bootstrap_servers, platform_topics(platform_settings))
    return platform_settings
