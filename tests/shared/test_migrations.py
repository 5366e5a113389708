"""Migrations: applied once in order, re-running is a no-op, an edited applied file is refused."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from shared.importing.ledger import MIGRATIONS as IMPORT_TABLES
from shared.ops.service import load_service
from shared.store.migrations import MigrationError, migrate


async def test_migrations_apply_in_order_once_and_refuse_edits(fresh_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("create table first_table (id int primary key);")
    (tmp_path / "0002_second.sql").write_text("alter table first_table add column name text;")
    conn = await asyncpg.connect(fresh_dsn)
    try:
        assert await migrate(conn, [("probe", tmp_path)]) == ["probe/0001_first", "probe/0002_second"]
        assert await migrate(conn, [("probe", tmp_path)]) == []
        columns = await conn.fetch("select column_name from information_schema.columns "
                                   "where table_name = 'first_table' order by ordinal_position")
        assert [c["column_name"] for c in columns] == ["id", "name"]

        (tmp_path / "0001_first.sql").write_text("create table first_table (id bigint primary key);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, [("probe", tmp_path)])
    finally:
        await conn.close()


async def test_a_failing_migration_is_rolled_back_and_reported(fresh_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_broken.sql").write_text("create table half (id int); select no_such_function();")
    conn = await asyncpg.connect(fresh_dsn)
    try:
        with pytest.raises(MigrationError, match="probe/0001_broken"):
            await migrate(conn, [("probe", tmp_path)])
        assert await conn.fetchval("select to_regclass('half')") is None
        assert await conn.fetchval("select count(*) from schema_migrations where scope = 'probe'") == 0
    finally:
        await conn.close()


OLD_LEDGER_MIGRATION = '''
create table if not exists import_ledger (
    kind text not null, source_id text not null, entity_id uuid not null, customer_id uuid,
    fingerprint text not null, outcome text not null check (outcome in ('created', 'linked')),
    imported_at timestamptz not null default clock_timestamp(),
    updated_at timestamptz not null default clock_timestamp(), primary key (kind, source_id));
create index if not exists import_ledger_entity_idx on import_ledger (entity_id);
create table if not exists import_jobs (
    id uuid primary key, status text not null check (status in ('running', 'succeeded', 'failed')),
    submitted_by text, summary jsonb not null default '{}'::jsonb, rejects jsonb not null default '[]'::jsonb,
    created_at timestamptz not null default clock_timestamp(),
    updated_at timestamptz not null default clock_timestamp());
'''
"""The import tables as ticketing's ``0002_import_ledger`` created them before they moved to ``shared.importing``."""


def test_every_importing_service_gets_the_import_tables_from_the_shared_set() -> None:
    for name in ("customer", "ticketing", "campaigns"):
        sets = load_service(name).migration_sets()
        assert sets[0] == IMPORT_TABLES and sets[-1][0] == name
        assert not any("import_ledger" in path.name for path in sets[-1][1].glob("*.sql"))
    assert IMPORT_TABLES not in load_service("analytics").migration_sets()  # it imports nothing


async def test_a_database_migrated_before_the_move_keeps_its_import_ledger(fresh_dsn: str, tmp_path: Path) -> None:
    """Deployed databases recorded ``<service>/000N_import_ledger``: the shared set finds its tables there."""
    (tmp_path / "0002_import_ledger.sql").write_text(OLD_LEDGER_MIGRATION)
    conn = await asyncpg.connect(fresh_dsn)
    try:
        assert await migrate(conn, [("ticketing", tmp_path)]) == ["ticketing/0002_import_ledger"]
        await conn.execute("insert into import_ledger (kind, source_id, entity_id, fingerprint, outcome) "
                           "values ('ticket', 'T-1', gen_random_uuid(), 'f', 'created')")
        (tmp_path / "0002_import_ledger.sql").unlink()  # the file is gone from the service's folder
        assert await migrate(conn, [IMPORT_TABLES, ("ticketing", tmp_path)]) == ["importing/0001_import_ledger"]
        assert await conn.fetchval("select source_id from import_ledger") == "T-1"
        assert await migrate(conn, [IMPORT_TABLES, ("ticketing", tmp_path)]) == []
    finally:
        await conn.close()
