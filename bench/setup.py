"""Scratch databases and topics for benchmarks, on the real local infrastructure."""

from __future__ import annotations

import os
import uuid

import asyncpg

from shared.migrations import PLATFORM_MIGRATIONS, migrate
from shared.testing.infra import dsn_with_database
from shared.topics import TopicSpec, delete_topics, ensure_topics

ADMIN_DSN = os.environ.get("POSTGRES_DSN", "postgresql://c360:c360@127.0.0.1:5432/postgres")
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


class Scratch:
    """A fresh database (platform tables) and a topic prefix, removed on exit."""

    def __init__(self) -> None:
        self.name = f"c360bench_{uuid.uuid4().hex[:10]}"
        self.dsn = dsn_with_database(ADMIN_DSN, self.name)
        self.prefix = f"bench{uuid.uuid4().hex[:8]}."
        self.bootstrap = BOOTSTRAP

    async def __aenter__(self) -> Scratch:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'create database "{self.name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(self.dsn)
        try:
            await migrate(conn, [("platform", PLATFORM_MIGRATIONS)])
        finally:
            await conn.close()
        return self

    def topic(self, name: str, partitions: int = 6) -> str:
        physical = f"{self.prefix}{name}"
        ensure_topics(self.bootstrap, [TopicSpec(physical, partitions)])
        return physical

    async def __aexit__(self, *exc: object) -> None:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'drop database if exists "{self.name}" with (force)')
        finally:
            await admin.close()
        delete_topics(self.bootstrap, self.prefix)
