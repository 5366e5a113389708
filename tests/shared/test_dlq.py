"""Dead letters can be inspected and replayed to their original topic once the cause is fixed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kafka import KafkaProducer

from shared.consuming.consumer import RawRecord, dead_letter_headers
from shared.consuming.dlq import read_dead_letters, replay
from shared.testing.kafka import read_topic


def test_replay_republishes_only_the_chosen_reason_without_dlq_headers_and_only_once(
    kafka_bootstrap: str, make_topics: Callable[..., list[str]]
) -> None:
    topic, dlq = make_topics("things", "things.dlq")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for n, reason in enumerate(["unknown_version", "invalid_json", "unknown_version"]):
        original = RawRecord(topic, 0, n, b"k", f'{{"n": {n}}}'.encode(), [("ce_id", f"id-{n}".encode())])
        producer.send(dlq, key=b"k", value=original.value,
                      headers=dead_letter_headers(original, "tests", reason, "because"))
    producer.flush()
    producer.close()

    letters = read_dead_letters(kafka_bootstrap, dlq)
    assert [letter.reason for letter in letters] == ["unknown_version", "invalid_json", "unknown_version"]
    assert {letter.original_topic for letter in letters} == {topic}

    assert replay(kafka_bootstrap, dlq, reason="unknown_version", dry_run=True) == (2, 1)
    assert replay(kafka_bootstrap, dlq, reason="unknown_version") == (2, 1)
    assert replay(kafka_bootstrap, dlq, reason="unknown_version") == (0, 0)  # nothing new since
    back = read_topic(kafka_bootstrap, topic, expected=2)
    assert sorted(r.value["n"] for r in back) == [0, 2]
    assert all(not k.startswith("dlq_") for r in back for k in r.headers)
    assert {r.headers["ce_id"] for r in back} == {"id-0", "id-2"}


async def test_cli_help_lists_every_command() -> None:
    process = await asyncio.create_subprocess_exec(".venv/bin/c360", "--help", stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    assert process.returncode == 0
    listed = out.decode().split("positional arguments:")[1].split("options:")[0]
    for command in ("api", "relay", "worker", "migrate", "topics", "token", "dlq", "processes"):
        assert f"    {command}" in listed
