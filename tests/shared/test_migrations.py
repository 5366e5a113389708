"""Migrations: applied once in order, re-running is a no-op, an edited applied file is refused."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

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
