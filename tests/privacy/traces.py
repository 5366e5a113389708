"""Searching everything the platform stores for a person's name, email and phone.

The search is deliberately dumb and exhaustive: every row of every table in every schema of a
service's database (event store, outbox, inbox, idempotency answers, read models, the analytics
schema, whatever a later migration adds), and every record of every topic with the run's prefix
(event topics, ``campaigns.messages``, dead-letter topics), keys and headers included. Binary
columns are read as text; sealed personal fields (``enc:v1:...``) are opened with every key that
still exists in any service for the record's subject, so what crypto-shredding failed to shred is
found as plain text.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from kafka import KafkaAdminClient

from shared.shredding import PREFIX as SEALED
from shared.testing.kafka import end_offsets, read_topic

Keys = Mapping[str, list[bytes]]
"""Remaining data keys by subject, gathered from every service."""


@dataclass(frozen=True)
class Trace:
    """Where a needle was found: ``place`` is ``<service>:<schema>.<table>.<column>`` or ``topic:<name>``."""

    owner: str
    needle: str
    place: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.owner}'s {self.needle!r} in {self.place}: ...{self.excerpt}..."


@dataclass(frozen=True)
class Person:
    """Whose data we look for, and the strings that would betray them (matched case-insensitively)."""

    label: str
    subject: str
    needles: tuple[str, ...]


async def remaining_keys(dsns: Iterable[str]) -> dict[str, list[bytes]]:
    """Every data key not destroyed, in every service's database, by subject."""
    keys: dict[str, list[bytes]] = {}
    for dsn in dsns:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("select subject, key from personal_data_keys where key is not null")
        finally:
            await conn.close()
        for row in rows:
            keys.setdefault(row["subject"], []).append(bytes(row["key"]))
    return keys


def _open(token: str, field: str, subjects: Iterable[str], keys: Keys) -> Any:
    raw = base64.b64decode(token[len(SEALED):])
    for subject in subjects:
        for key in keys.get(subject, []):
            try:
                return orjson.loads(AESGCM(key).decrypt(raw[:12], raw[12:], f"{subject}|{field}".encode()))
            except InvalidTag:
                continue
    return None


def opened(value: Any, subjects: Iterable[str], keys: Keys, field: str = "") -> Any:
    """``value`` with every sealed field that any remaining key opens replaced by its plain text."""
    subjects = list(subjects)
    if isinstance(value, dict):
        return {k: opened(v, subjects, keys, k) for k, v in value.items()}
    if isinstance(value, list):
        return [opened(v, subjects, keys, field) for v in value]
    if isinstance(value, str) and value.startswith(SEALED):
        return _open(value, field, subjects, keys)
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _with_sealed_opened(text: str, subjects: Iterable[str], keys: Keys) -> str:
    """The text, plus the JSON it holds with sealed fields opened (when it is JSON with sealed fields)."""
    if SEALED not in text:
        return text
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return text + " " + orjson.dumps(opened(parsed, subjects, keys)).decode()


def find(text: str, people: Iterable[Person], place: str) -> list[Trace]:
    """Every needle of every person in ``text``."""
    lowered = text.lower()
    traces = []
    for person in people:
        for needle in person.needles:
            at = lowered.find(needle.lower())
            if at >= 0:
                traces.append(Trace(person.label, needle, place, text[max(0, at - 60) : at + len(needle) + 60]))
    return traces


async def search_database(service: str, dsn: str, people: list[Person], keys: Keys) -> list[Trace]:
    """Every table of every schema of one service's database, every column, sealed fields opened."""
    conn = await asyncpg.connect(dsn)  # no codecs: json arrives as its text, bytea as bytes
    try:
        tables = await conn.fetch(
            """select table_schema, table_name from information_schema.tables
               where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
               order by 1, 2"""
        )
        traces: list[Trace] = []
        for table in tables:
            schema, name = table["table_schema"], table["table_name"]
            rows = await conn.fetch(f'select * from "{schema}"."{name}"')
            columns = set(rows[0].keys()) if rows else set()
            subject_columns = [c for c in ("subject", "key", "customer_id", "origin") if c in columns]
            for row in rows:
                subjects = {p.subject for p in people} | {_as_text(row[c]) for c in subject_columns}
                for column, value in row.items():
                    text = _with_sealed_opened(_as_text(value), subjects, keys)
                    traces.extend(find(text, people, f"{service}:{schema}.{name}.{column}"))
        return traces
    finally:
        await conn.close()


def prefixed_topics(bootstrap: str, prefix: str) -> list[str]:
    """Every topic of the run (event, message and dead-letter topics)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="privacy-proof")
    try:
        return sorted(t for t in admin.list_topics() if t.startswith(prefix))
    finally:
        admin.close()


def search_topics(bootstrap: str, prefix: str, people: list[Person], keys: Keys) -> tuple[list[Trace], int]:
    """Every record of every topic of the run (key, headers, value); returns traces and records read."""
    traces: list[Trace] = []
    read = 0
    for topic in prefixed_topics(bootstrap, prefix):
        total = end_offsets(bootstrap, topic)
        if not total:
            continue
        records = read_topic(bootstrap, topic, expected=total, timeout=60.0)
        assert len(records) >= total, f"read {len(records)} of {total} records of {topic}"
        read += len(records)
        for record in records:
            key = _as_text(record.key)
            subjects = {p.subject for p in people} | {key, record.headers.get("ce_subject", "")}
            text = " ".join(
                [key, orjson.dumps(record.headers).decode(),
                 _with_sealed_opened(_as_text(record.raw_value), subjects, keys)]
            )
            traces.extend(find(text, people, f"topic:{topic}@{record.partition}:{record.offset}"))
    return traces, read
