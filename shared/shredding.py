"""Crypto-shredding: personal data is stored and published encrypted under a per-customer key.

The event log is append-only and Kafka topics keep events forever, so personal data cannot be
deleted from them. Instead, every field the catalog marks ``Personal()`` is encrypted with AES-GCM
under a data key that belongs to the customer (the event's subject). Erasure destroys the key: from
then on neither the store, a replay, nor the topic reveals the data, while the anonymous facts
(amounts, times, counts) stay readable for the KPIs.

On the wire an encrypted field is a string ``enc:v1:<base64(nonce|ciphertext)>``. A reader without
the key, or after erasure, sees the field as ``None``; that is why personal fields are optional.
The associated data binds each ciphertext to its subject and field name, so a value cannot be moved
to another customer or field.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from typing import Any

import asyncpg
import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.errors import Gone, NotFound

PREFIX = "enc:v1:"


def is_encrypted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt_value(key: bytes, subject: str, field: str, value: Any) -> str:
    """Encrypt one JSON-serialisable value (as its JSON text) for ``subject``/``field``."""
    nonce = os.urandom(12)
    plaintext = orjson.dumps(value)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, f"{subject}|{field}".encode())
    return PREFIX + base64.b64encode(nonce + ciphertext).decode()


def decrypt_value(key: bytes, subject: str, field: str, token: str) -> Any:
    """The original value, or ``None`` when the token does not open with this key."""
    raw = base64.b64decode(token[len(PREFIX) :])
    try:
        plaintext = AESGCM(key).decrypt(raw[:12], raw[12:], f"{subject}|{field}".encode())
    except InvalidTag:
        return None
    return orjson.loads(plaintext)


def encrypt_fields(data: dict[str, Any], fields: Iterable[str], key: bytes, subject: str) -> dict[str, Any]:
    """A copy of ``data`` with each present, non-null personal field encrypted."""
    result = dict(data)
    for field in fields:
        value = result.get(field)
        if value is not None and not is_encrypted(value):
            result[field] = encrypt_value(key, subject, field, value)
    return result


def decrypt_fields(data: dict[str, Any], fields: Iterable[str], key: bytes | None, subject: str) -> dict[str, Any]:
    """A copy of ``data`` with personal fields opened; ``None`` where the key is gone."""
    result = dict(data)
    for field in fields:
        value = result.get(field)
        if isinstance(value, str) and is_encrypted(value):
            result[field] = None if key is None else decrypt_value(key, subject, field, value)
    return result


def redact_fields(data: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """A copy of ``data`` with every personal field set to ``None`` (what is kept when there is no key)."""
    hidden = frozenset(fields)
    return {name: None if name in hidden else value for name, value in data.items()}


class KeyStore:
    """Per-subject data keys in the service's own database (table ``personal_data_keys``)."""

    async def key_for(self, conn: asyncpg.Connection, subject: str) -> bytes | None:
        """The subject's key, created on first use; ``None`` once it was destroyed."""
        row = await conn.fetchrow(
            """insert into personal_data_keys (subject, key) values ($1, $2)
               on conflict (subject) do update set subject = excluded.subject
               returning key""",
            subject,
            AESGCM.generate_key(bit_length=256),
        )
        return None if row is None else row["key"]

    async def existing_key(self, conn: asyncpg.Connection, subject: str) -> bytes | None:
        """The subject's key if one exists and was not destroyed (never creates one)."""
        key: bytes | None = await conn.fetchval("select key from personal_data_keys where subject = $1", subject)
        return key

    async def published_key(self, conn: asyncpg.Connection, subject: str) -> bytes:
        """The key a subscriber may be given: ``NotFound`` when there is none, ``Gone`` once destroyed."""
        row = await conn.fetchrow("select key from personal_data_keys where subject = $1", subject)
        if row is None:
            raise NotFound(f"no data key for {subject}")
        if row["key"] is None:
            raise Gone(f"the data key of {subject} was destroyed (the customer was erased)")
        key: bytes = row["key"]
        return key

    async def published_keys(
        self, conn: asyncpg.Connection, subjects: Iterable[str]
    ) -> tuple[dict[str, bytes], set[str]]:
        """``published_key`` for many subjects in one query: the keys, and the subjects whose key was destroyed.

        A subject in neither has no key (the batch route's ``unknown``).
        """
        rows = await conn.fetch(
            "select subject, key from personal_data_keys where subject = any($1::text[])", list(set(subjects))
        )
        keys = {r["subject"]: r["key"] for r in rows if r["key"] is not None}
        return keys, {r["subject"] for r in rows if r["key"] is None}

    async def existing_keys(self, conn: asyncpg.Connection, subjects: Iterable[str]) -> dict[str, bytes]:
        rows = await conn.fetch(
            "select subject, key from personal_data_keys where subject = any($1::text[]) and key is not null",
            list(set(subjects)),
        )
        return {r["subject"]: r["key"] for r in rows}

    async def destroy(self, conn: asyncpg.Connection, subject: str) -> None:
        """Crypto-shred: forget the key for good (a tombstone row stays so it is never re-created)."""
        await conn.execute(
            """insert into personal_data_keys (subject, key, destroyed_at) values ($1, null, now())
               on conflict (subject) do update set key = null, destroyed_at = coalesce(
                   personal_data_keys.destroyed_at, now())""",
            subject,
        )
