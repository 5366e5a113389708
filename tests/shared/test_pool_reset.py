"""API pools skip asyncpg's reset query on release, and still never hand out an open transaction."""

from __future__ import annotations

from shared.store.db import create_pool


async def test_a_pool_without_session_reset_still_ends_a_transaction_left_open(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn, min_size=1, max_size=1, reset_session=False)
    try:
        async with pool.acquire() as conn:
            backend = await conn.fetchval("select pg_backend_pid()")
            await conn.execute("begin")
            await conn.execute("create temporary table left_open (x int)")
        async with pool.acquire() as conn:
            assert await conn.fetchval("select pg_backend_pid()") == backend  # the same, warm connection
            assert not conn.is_in_transaction()
            assert await conn.fetchval("select to_regclass('pg_temp.left_open')") is None  # rolled back
    finally:
        await pool.close()


async def test_a_pool_without_session_reset_keeps_session_settings_a_default_pool_resets(fresh_dsn: str) -> None:
    """What the option changes: session state survives release (so API code must not leave any)."""
    kept = await create_pool(fresh_dsn, min_size=1, max_size=1, reset_session=False)
    reset = await create_pool(fresh_dsn, min_size=1, max_size=1)
    try:
        for pool in (kept, reset):
            async with pool.acquire() as conn:
                await conn.execute("set application_name = 'left-behind'")
        async with kept.acquire() as conn:
            assert await conn.fetchval("show application_name") == "left-behind"
        async with reset.acquire() as conn:
            assert await conn.fetchval("show application_name") != "left-behind"
    finally:
        await kept.close()
        await reset.close()
