"""Versioned SQL migrations per service database, applied by one runner.

Files are named ``NNNN_description.sql`` and applied in order inside a transaction each; the
applied ones are recorded in ``schema_migrations`` with a checksum, so re-running is a no-op and an
edited, already-applied file is reported instead of silently diverging. An advisory lock serialises
concurrent runners (two replicas starting at once, or a migration Job racing a developer).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

PLATFORM_MIGRATIONS = Path(__file__).parent / "sql"
_LOCK_KEY = 0x6333_3630  # "c360"


class MigrationError(RuntimeError):
    """A migration failed or an applied one was edited."""


@dataclass(frozen=True, slots=True)
class Migration:
    scope: str
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(scope: str, directory: Path) -> list[Migration]:
    """Migrations in ``directory`` sorted by their numeric prefix."""
    files = sorted(p for p in directory.glob("*.sql") if p.name[:4].isdigit())
    return [Migration(scope, p.stem, p) for p in files]


async def migrate(conn: asyncpg.Connection, sets: list[tuple[str, Path]]) -> list[str]:
    """Apply every pending migration of each ``(scope, directory)``; return what was applied."""
    applied_now: list[str] = []
    await conn.execute("select pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """create table if not exists schema_migrations (
                   scope text not null, version text not null, checksum text not null,
                   applied_at timestamptz not null default now(), primary key (scope, version))"""
        )
        rows = await conn.fetch("select scope, version, checksum from schema_migrations")
        done = {(r["scope"], r["version"]): r["checksum"] for r in rows}
        for scope, directory in sets:
            for migration in discover(scope, directory):
                key = (migration.scope, migration.version)
                if key in done:
                    if done[key] != migration.checksum:
                        raise MigrationError(
                            f"{scope}/{migration.version} changed after it was applied; add a new migration"
                        )
                    continue
                async with conn.transaction():
                    try:
                        await conn.execute(migration.sql)
                    except asyncpg.PostgresError as exc:
                        raise MigrationError(f"{scope}/{migration.version}: {exc}") from exc
                    await conn.execute(
                        "insert into schema_migrations (scope, version, checksum) values ($1, $2, $3)",
                        migration.scope,
                        migration.version,
                        migration.checksum,
                    )
                applied_now.append(f"{scope}/{migration.version}")
                log.info("applied migration", extra={"migration": f"{scope}/{migration.version}"})
    finally:
        await conn.execute("select pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def migrate_service(dsn: str, sets: Sequence[tuple[str, Path]]) -> list[str]:
    """Platform tables first, then each ``(scope, folder)`` of the service (``ServiceDefinition.migration_sets``)."""
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn, [("platform", PLATFORM_MIGRATIONS), *((s, d) for s, d in sets if d.exists())])
    finally:
        await conn.close()
