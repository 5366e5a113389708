"""asyncpg pools with the codecs every service uses.

JSON and JSONB columns are encoded with orjson (several times faster than the stdlib json module on
the hot paths: event append and read-model writes). Pools are created inside the running event loop
(in a lifespan or worker start-up), never at import time.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


SERVER_SETTINGS: dict[str, str] = {"jit": "off"}
"""Session settings of every connection we open.

Why ``jit`` is off: PostgreSQL compiles a statement to machine code when its *estimated* cost passes
``jit_above_cost``, and the estimate of a batched ``unnest`` statement is far off (the analytics
signals append of 3,163 events was estimated at 2.3 million rows). Compiling it took 493 ms of the
statement's 583 ms, on a core the projector and the APIs share; the statement itself ran in 50 ms
(``auto_explain`` over the 360 replay, issue 17). Every statement the platform runs is short and
indexed, the kind JIT never pays back.
"""


async def init_connection(conn: asyncpg.Connection) -> None:
    """Register orjson codecs for json/jsonb on a new connection."""
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, reset_session: bool = True, **kwargs: Any
) -> asyncpg.Pool:
    """A pool sized for two cores: few connections, each kept busy, statements cached.

    ``reset_session=False`` is for pools whose users leave no session state behind (the APIs: no
    session-level SET, advisory lock, LISTEN or cursor outlives a request). asyncpg still rolls back an
    open transaction on release; what is skipped is the reset query (``RESET ALL``, ``UNLISTEN *``, ...),
    one more round trip on every release, which at hundreds of requests per second was a large part of
    a read's latency (issue 17).
    """
    if not reset_session:
        kwargs["reset"] = _keep_session
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=init_connection,
        command_timeout=30,
        max_inactive_connection_lifetime=300,
        server_settings=SERVER_SETTINGS,
        **kwargs,
    )
    assert pool is not None
    return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing beyond asyncpg's own release step (which ends any open transaction)."""


async def connect(
    dsn: str, *, connect_timeout: float = 60, command_timeout: float | None = None, application_name: str | None = None
) -> asyncpg.Connection:
    """A single connection with our codecs (for CLIs, the relay's listener, migrations).

    ``application_name`` names the connection in ``pg_stat_activity`` for operators.
    Long-lived loops pass a ``command_timeout`` so a statement that never answers (a half-open socket
    after a database failover) fails and is retried instead of hanging the loop for ever.
    """
    settings = dict(SERVER_SETTINGS)
    if application_name:
        settings["application_name"] = application_name
    conn = await asyncpg.connect(
        dsn, timeout=connect_timeout, command_timeout=command_timeout, server_settings=settings
    )
    await init_connection(conn)
    return conn


DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    # Shutdown, crash recovery, "the database system is starting up", a cancelled statement.
    asyncpg.exceptions.OperatorInterventionError,
    # Too many connections, out of memory, disk full.
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.InterfaceError,
    # asyncpg's own wording for a connection dropped mid-statement ("cannot switch to state ...").
    asyncpg.InternalClientError,
)
"""The database is away or restarting: nothing is wrong with the work itself, so try it again later."""

TRANSIENT_DATABASE_ERRORS: tuple[type[Exception], ...] = (
    *DATABASE_UNAVAILABLE,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)
"""Errors after which the same work, retried, succeeds: never a reason to dead-letter or answer 500."""
