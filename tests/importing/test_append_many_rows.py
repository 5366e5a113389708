"""``EventStore.append_many`` (the import's COPY path) writes the rows ``append`` writes.

Its rows are built as COPY text by hand (escaped once per call, stream and event class, payload and
key in bytea's escape format), so these compare them with ``append``'s for the texts that need
escaping: backslashes, quotes, tabs and line breaks in the payload, the subject and the metadata,
and non-ASCII text, with personal fields sealed under the subject's key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from pydantic import AwareDatetime, TypeAdapter

from shared.events.envelope import HISTORY_HEADER, format_time
from shared.ids import uuid7, uuid7_texts
from shared.shredding import is_encrypted
from shared.store.db import create_pool
from shared.store.eventstore import EventMetadata, EventStore, StreamAppend, _utc_text
from tests.shared.sample_events import TEST_CATALOG, PersonRenamed, ThingHappened

AWKWARD = 'a \\ back\\slash, a "quote", a\ttab, a\nline\r\nbreak, Ayşe Öztürk 東京 \\x41 \\\\'
SUBJECT = 'customer \\x7b "9"'


def a_store() -> EventStore:
    return EventStore(service="testing", topic="t.events", catalog=TEST_CATALOG)


async def rows(pool: asyncpg.Pool, stream_id: str) -> list[dict[str, Any]]:
    found = await pool.fetch(
        "select e.version, e.event_type, e.event_version, e.subject, e.data, e.metadata, e.occurred_at,"
        " o.topic, o.key, o.headers, o.payload from events e"
        " join outbox o on o.headers->>'ce_id' = e.event_id::text where e.stream_id = $1 order by e.version",
        stream_id)
    return [dict(r) for r in found]


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    """A row without what differs between two appends of the same events: ids, stream and seals."""
    headers = {k: v for k, v in row["headers"].items() if k not in ("ce_id", "ce_streamid", "ce_c360history")}
    data = {k: ("sealed" if is_encrypted(v) else v) if isinstance(v, str) else v for k, v in row["data"].items()}
    metadata = {k: v for k, v in row["metadata"].items() if k != "history"}
    return {**row, "headers": headers, "data": data, "metadata": metadata, "payload": None}


async def test_append_many_writes_the_rows_append_writes_for_text_that_needs_escaping(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn)
    store = a_store()
    moment = datetime(2019, 5, 1, 9, 30, 0, 250000, tzinfo=timezone(timedelta(hours=3)))
    events = [ThingHappened(customer_id=SUBJECT, note=AWKWARD),
              PersonRenamed(customer_id=SUBJECT, given_name=AWKWARD, family_name="Öz"),
              ThingHappened(customer_id=SUBJECT, note="plain")]
    metadata = EventMetadata(correlation_id='corr "1" \\ ', causation_id="cause\t2", actor="importer\\ayşe")
    try:
        async with pool.acquire() as conn, conn.transaction():
            await store.append(conn, stream_id="one", stream_type="thing", expected_version=0, subject=SUBJECT,
                               events=events, metadata=metadata, occurred_at=moment)
        async with pool.acquire() as conn, conn.transaction():
            written = await store.append_many(
                conn, [StreamAppend("many", "thing", 0, SUBJECT, events, [moment] * 3)], history=True,
                metadata=metadata)
        assert written == 3
        one, many = await rows(pool, "one"), await rows(pool, "many")
        assert [comparable(r) for r in many] == [comparable(r) for r in one]
        assert [r["headers"]["ce_streamid"] for r in many] == ["many"] * 3
        assert all(r["headers"][HISTORY_HEADER] == "import" and r["metadata"]["history"] == "import" for r in many)
        assert many[0]["key"] == SUBJECT.encode()
        assert many[0]["headers"]["ce_time"] == "2019-05-01T06:30:00.250000Z"
        assert many[0]["occurred_at"] == moment.astimezone(UTC)
        # The Kafka value is the stored JSON, byte for byte: plain where append has it plain.
        assert many[0]["payload"] == one[0]["payload"]
        assert many[2]["payload"] == one[2]["payload"]
        async with pool.acquire() as conn:
            loaded = await store.load(conn, "many")
        assert [e.event for e in loaded] == events  # personal fields sealed, then opened with the key
    finally:
        await pool.close()


@pytest.mark.parametrize("moment", [
    datetime(2019, 5, 1, 9, 30, tzinfo=UTC),
    datetime(2019, 5, 1, 9, 30, 0, 500000, tzinfo=timezone(timedelta(hours=3))),
    datetime(1, 1, 1, tzinfo=UTC), datetime(204, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2020, 1, 1, 5, tzinfo=timezone(timedelta(seconds=30))), datetime(2020, 1, 1),
    TypeAdapter(AwareDatetime).validate_python("2019-05-01T09:30:00-00:00"),
])
def test_a_moment_is_written_as_format_time_writes_it(moment: datetime) -> None:
    assert _utc_text(moment) == format_time(moment).encode()


def test_ids_made_in_bulk_are_version_7_and_keep_the_order_of_ids_made_one_at_a_time() -> None:
    before, bulk, after = str(uuid7()), uuid7_texts(5000), str(uuid7())
    made = [before, *bulk, after]
    assert made == sorted(made) and len(set(made)) == len(made)  # 5,000 in a millisecond: the counter carries
    assert all(str(UUID(text)) == text and UUID(text).version == 7 for text in bulk)
    assert uuid7_texts(0) == []
