"""How the read model is stored: the 360 states compressed with lz4 and kept in their rows, live and in a
rebuild's schema."""

from __future__ import annotations

import uuid

from services.analytics.config import AnalyticsSettings
from shared.store.db import connect


async def _compression(conn, schema: str) -> str:  # type: ignore[no-untyped-def]
    return str(await conn.fetchval(
        "select attcompression::text from pg_attribute"
        " where attrelid = format('%I.customer_views', $1::text)::regclass and attname = 'state'",
        schema,
    ))


async def test_the_360_state_is_compressed_with_lz4_in_the_live_and_a_rebuild_schema(
    settings: AnalyticsSettings,
) -> None:
    conn = await connect(settings.database_url)
    try:
        assert await _compression(conn, "analytics") == "l"
        shadow = f"t_{uuid.uuid4().hex[:12]}"
        await conn.execute("select analytics_create_read_model($1)", shadow)
        assert await _compression(conn, shadow) == "l"
        for schema in ("analytics", shadow):  # a compressed state (~3 KB) stays in its row
            assert await conn.fetchval(
                "select reloptions from pg_class where oid = format('%I.customer_views', $1::text)::regclass", schema
            ) == ["toast_tuple_target=8160"]
        await conn.execute(
            "insert into analytics.customer_views (customer_id, state, status) values ($1, $2, 'active')",
            uuid.uuid4(), {"padding": "x" * 20_000, "n": [1, 2, 3]},
        )
        assert await conn.fetchval("select pg_column_compression(state) from analytics.customer_views") == "lz4"
    finally:
        await conn.close()
