"""Every connection we open runs without JIT compilation, also after a pool resets its session."""

from __future__ import annotations

from shared.store.db import connect, create_pool


async def test_pool_connections_run_without_jit_also_after_the_reset_on_release(fresh_dsn: str) -> None:
    for reset_session in (True, False):
        pool = await create_pool(fresh_dsn, min_size=1, max_size=1, reset_session=reset_session)
        try:
            async with pool.acquire() as conn:
                assert await conn.fetchval("show jit") == "off"
                backend = await conn.fetchval("select pg_backend_pid()")
            async with pool.acquire() as conn:  # released once: RESET ALL goes back to the start-up value
                assert await conn.fetchval("select pg_backend_pid()") == backend
                assert await conn.fetchval("show jit") == "off"
        finally:
            await pool.close()


async def test_a_single_connection_runs_without_jit_and_keeps_its_application_name(fresh_dsn: str) -> None:
    conn = await connect(fresh_dsn, application_name="c360-test")
    try:
        assert await conn.fetchval("show jit") == "off"
        assert await conn.fetchval("show application_name") == "c360-test"
    finally:
        await conn.close()


async def test_the_server_default_is_what_jit_off_overrides(fresh_dsn: str) -> None:
    """The setting matters: the server we test against compiles by default (PostgreSQL's default)."""
    conn = await connect(fresh_dsn)
    try:
        assert await conn.fetchval("select reset_val from pg_settings where name = 'jit'") == "off"
        assert await conn.fetchval("select boot_val from pg_settings where name = 'jit'") == "on"
    finally:
        await conn.close()
