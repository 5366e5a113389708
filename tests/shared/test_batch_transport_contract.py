"""What the batch transport relies on inside faust-streaming: an upgrade that changes it fails here.

``shared.consuming.batch_transport.BatchConsumer`` replaces Faust's private ``Consumer._drain_messages`` and
calls private helpers around it. These tests pin the exact release, the registry hook, the
attributes and signatures used, and a fingerprint of the source of every Faust method whose
behaviour the override reproduces or depends on. When one fails after an upgrade: re-read that
method in the new release, adapt ``BatchConsumer`` if needed, rerun tests/shared/test_batch_transport.py,
and only then update the fingerprint below.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import tomllib
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka.consumer.fetcher import Fetcher
from faust.app import base as app_base
from faust.transport import by_url
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as aiokafka_driver

from shared.consuming.batch_transport import SCHEME, BatchApp, BatchConsumer, BatchTransport, broker_urls, register

REPO_ROOT = Path(__file__).resolve().parents[2]
Consumer = faust_consumer.Consumer

RELIED_ON: dict[str, tuple[Callable[..., Any], str, str]] = {
    # name: (function, signature, sha256 prefix of its source in faust-streaming 0.15.3)
    "Consumer._drain_messages (replaced)": (
        Consumer._drain_messages, "(self, fetcher: mode.types.services.ServiceT) -> None", "44a2500309e83c63"),
    "Consumer.getmany (its generation and flow checks reproduced)": (
        Consumer.getmany, "(self, timeout: float) -> AsyncIterator[Tuple[faust.types.tuples.TP, "
        "faust.types.tuples.Message]]", "4b168d84882a70d6"),
    "Consumer._wait_next_records": (
        Consumer._wait_next_records, "(self, timeout: float) -> Tuple[Optional[Mapping[faust.types.tuples.TP, "
        "List[Any]]], Optional[Set[faust.types.tuples.TP]]]", "6218e1969a636b3f"),
    "Consumer.track_message": (
        Consumer.track_message, "(self, message: faust.types.tuples.Message) -> None", "217d7f1399a4cd8e"),
    "Consumer.ack": (Consumer.ack, "(self, message: faust.types.tuples.Message) -> bool", "5fcf41cf45153475"),
    "Consumer.wait_empty (a rebalance waits for unacked messages)": (
        Consumer.wait_empty, "(self) -> None", "e4662fe24f094819"),
    "Consumer._add_gap": (
        Consumer._add_gap, "(self, tp: faust.types.tuples.TP, offset_from: int, offset_to: int) -> None",
        "4df2573ded7c1c2c"),
    "Consumer.perform_seek": (Consumer.perform_seek, "(self) -> None", "0e8c130ff4b0afd8"),
    "Consumer.on_partitions_revoked": (
        Consumer.on_partitions_revoked, "(self, revoked: Set[faust.types.tuples.TP]) -> None", "d04b7ae72c6fc206"),
    "Fetcher._fetcher (calls consumer._drain_messages)": (
        faust_consumer.Fetcher._fetcher, "(self) -> None", "68f894f0b577d810"),
    "aiokafka Consumer._to_message": (
        aiokafka_driver.Consumer._to_message,
        "(self, tp: faust.types.tuples.TP, record: Any) -> faust.types.tuples.ConsumerMessage", "7c24f6511b2fcef7"),
    # time alignment (shared.consuming.alignment): read only the laggard partitions, and know how far behind each is
    "Consumer._get_active_partitions": (
        Consumer._get_active_partitions, "(self) -> Set[faust.types.tuples.TP]", "b24897f3c7afdb5d"),
    "ThreadDelegateConsumer._getmany (takes the partitions to read)": (
        faust_consumer.ThreadDelegateConsumer._getmany,
        "(self, active_partitions: Optional[Set[faust.types.tuples.TP]], timeout: float) -> "
        "Mapping[faust.types.tuples.TP, List[Any]]", "f9d47aa9010b5ff2"),
    "AIOKafkaConsumerThread.getmany (passes them on)": (
        aiokafka_driver.AIOKafkaConsumerThread.getmany,
        "(self, active_partitions: Optional[Set[faust.types.tuples.TP]], timeout: float) -> "
        "Mapping[faust.types.tuples.TP, List[Any]]", "26fc5fc9f3b667e1"),
    "AIOKafkaConsumerThread._fetch_records (to aiokafka's fetched_records)": (
        aiokafka_driver.AIOKafkaConsumerThread._fetch_records,
        "(self, consumer: aiokafka.consumer.consumer.AIOKafkaConsumer, active_partitions: "
        "Set[faust.types.tuples.TP], timeout: Optional[float] = None, max_records: Optional[int] = None) -> "
        "Mapping[faust.types.tuples.TP, List[Any]]", "39a2c6c79fc1455a"),
    "aiokafka Fetcher.fetched_records (drains only the partitions asked for, keeps the others' records)": (
        Fetcher.fetched_records, "(self, partitions, timeout=0, max_records=None)", "be4348896b9b66af"),
    "ThreadDelegateConsumer.highwater": (
        faust_consumer.ThreadDelegateConsumer.highwater, "(self, tp: faust.types.tuples.TP) -> int",
        "f52cb0d26a713c3a"),
    "AIOKafkaConsumerThread.highwater (None until a fetch answered for the partition)": (
        aiokafka_driver.AIOKafkaConsumerThread.highwater, "(self, tp: faust.types.tuples.TP) -> int",
        "6f7dbe109ae6807f"),
    "App._on_partitions_revoked (stops flow, then waits for the consumer to be empty)": (
        app_base.App._on_partitions_revoked, "(self, revoked: Set[faust.types.tuples.TP]) -> None",
        "d5c895bbe57dc73a"),
}


def _unwrapped(function: Callable[..., Any]) -> Callable[..., Any]:
    return getattr(function, "fun", function)  # mode's Service.task keeps the function in .fun


def test_faust_streaming_is_the_exact_release_the_override_was_written_against() -> None:
    assert version("faust-streaming") == "0.15.3"
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "faust-streaming==0.15.3" in pyproject["project"]["dependencies"]
    assert re.search(r"^faust-streaming==0\.15\.3$", (REPO_ROOT / "constraints.txt").read_text(), re.MULTILINE)
    # the time alignment relies on aiokafka's fetcher too (fetched_records above)
    assert version("aiokafka") == "0.14.0"
    assert "aiokafka==0.14.0" in pyproject["project"]["dependencies"]


@pytest.mark.parametrize("name", list(RELIED_ON))
def test_every_faust_method_the_override_relies_on_is_unchanged(name: str) -> None:
    function, signature, fingerprint = RELIED_ON[name]
    function = _unwrapped(function)
    assert str(inspect.signature(function)) == signature, f"{name}: signature changed"
    source = inspect.getsource(function)
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == fingerprint, f"{name}: source changed; re-verify"


def test_the_fetcher_still_drives_the_consumer_through_drain_messages() -> None:
    assert "consumer._drain_messages(self)" in inspect.getsource(_unwrapped(faust_consumer.Fetcher._fetcher))


def test_the_override_keeps_the_signature_of_the_method_it_replaces() -> None:
    ours = inspect.signature(BatchConsumer._drain_messages, eval_str=True)
    assert ours == inspect.signature(Consumer._drain_messages, eval_str=True)


def test_the_scheme_resolves_to_the_batch_transport_through_fausts_registry() -> None:
    register()
    assert broker_urls("h1:9092, h2:9093") == [f"{SCHEME}://h1:9092", f"{SCHEME}://h2:9093"]
    assert by_url(f"{SCHEME}://127.0.0.1:9092") is BatchTransport
    assert by_url("kafka://127.0.0.1:9092") is aiokafka_driver.Transport
    assert BatchTransport.Consumer is BatchConsumer
    assert issubclass(BatchConsumer, aiokafka_driver.Consumer)


async def test_a_batch_app_builds_the_batch_consumer_with_every_attribute_the_override_reads() -> None:
    app = BatchApp("contract-check", broker=broker_urls("127.0.0.1:9092"), store="memory://", web_enabled=False)
    app.finalize()
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    for attribute in ("_read_offset", "_buffered_partitions", "_unacked_messages", "_commit_every", "_n_acked",
                      "_stopped", "flow_active", "diag", "consumer_stopped_errors", "can_resume_flow",
                      "not_waiting_next_records"):
        assert hasattr(consumer, attribute), attribute
    assert consumer._read_offset["never-seen"] is None  # a defaultdict answering None for new partitions
    assert hasattr(app, "consumer_generation_id")
    assert callable(app.topics.acks_enabled_for) and callable(app.topics.add)
    assert callable(app.monitor.track_tp_end_offset)
    assert isinstance(app, faust.App)
