"""Scratch databases and topics for benchmarks, on the real local infrastructure."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared.ops.service import load_service
from shared.outbox.topics import TopicSpec, delete_topics, ensure_topics
from shared.store.migrations import PLATFORM_MIGRATIONS, migrate
from shared.testing.infra import dsn_with_database

ADMIN_DSN = os.environ.get("POSTGRES_DSN", "postgresql://c360:c360@127.0.0.1:5432/postgres")
REPO_ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


class Scratch:
    """A fresh database (platform tables, plus ``service``'s migrations) and a topic prefix, removed on exit."""

    def __init__(self, service: str | None = None, *, platform: bool = True) -> None:
        self.service = service
        self.platform = platform
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
        if not self.platform:
            return self
        conn = await asyncpg.connect(self.dsn)
        try:
            sets = [("platform", PLATFORM_MIGRATIONS)]
            if self.service:
                sets += load_service(self.service).migration_sets()
            await migrate(conn, sets)
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


@dataclass(frozen=True)
class Size:
    """A benchmark's workload sizes: the default run, the CI smoke, and the issue's full size."""

    default: int
    smoke: int
    full: int
    counts: str
    """What the number counts (events, operations, customers, seconds)."""
