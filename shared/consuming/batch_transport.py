"""A Faust transport that hands each whole fetch to one batch handler (ADR 0008).

Faust stays the worker runtime: group membership, partition assignment, rebalancing, seeking to
committed offsets and committing acknowledged offsets are all Faust's and aiokafka's. Only the path
from a fetch to our code changes. Stock Faust drains each fetch one message at a time through
``Conductor.on_message`` into a stream queue (every message wrapped in ``wait_first`` with the
flow-suspension event), and an agent rebuilds batches with ``take_events`` and acknowledges each
event; on the bench workload that machinery cost more per event than the fetch itself.

``BatchConsumer._drain_messages`` replaces that loop: it takes what ``getmany`` returned for the
active partitions, marks every message unacknowledged (``track_message``) *before* calling the
handler, awaits the handler, and acknowledges the messages only after it returns. So:

* a rebalance waits for the batch in flight: ``App._on_partitions_revoked`` calls
  ``Consumer.wait_empty``, which returns once no tracked message is unacknowledged, then commits;
* an offset is committed only after the handler returned, i.e. after the batch's database
  transaction committed (``BatchProcessor.process`` returns once every record is applied or
  dead-lettered);
* a batch fetched under one consumer generation is dropped, not handled, if the generation changed
  before it was handed over (Faust's streams skip such messages the same way); the new assignment
  seeks to the committed offsets, so the records come back.

A handler that raises keeps its batch unacknowledged and is retried with backoff (the consumer kit
deduplicates, so a retry never applies twice); on a rebalance or shutdown the batch is given up
unacknowledged and the partition's next owner reads it again from the committed offset.

While catching up (a whole fetch, or the aligner still holding records), the next fetch is handed
over before the previous batch has returned: at most ``IN_FLIGHT`` batches, each tracked and
acknowledged on its own, so the handler decodes one while the database applies the other (the
consumer kit applies them one at a time, in order: ``shared.consuming.consumer``). Live, each batch is
finished before the next fetch, as before.

This overrides private Faust methods. faust-streaming is pinned exactly, and
``tests/shared/test_batch_transport_contract.py`` fails if an upgrade changes what the override
relies on. The scheme is registered in Faust's transport registry by ``register()``; a broker URL
``c360batch://host:port`` selects it (``shared.consuming.streams.ProjectionWorker`` does).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import faust
from faust.transport import drivers
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message
from mode import ServiceT

from shared.consuming.alignment import TimeAligner, event_time
from shared.consuming.consumer import RawRecord

log = logging.getLogger(__name__)

SCHEME = "c360batch"
"""The broker URL scheme of this transport: ``c360batch://127.0.0.1:9092``."""

BatchHandler = Callable[[Sequence[RawRecord]], Awaitable[None]]
"""Applies or settles every record of a fetch; returns only when that is done."""

RETRY_INITIAL = 0.5
RETRY_MAX = 30.0
IN_FLIGHT = 2
"""Batches handed over and not yet returned, at most, while catching up (see the module's docstring)."""


@dataclass
class _HandedOver:
    """A batch whose handler runs: what finishing it needs."""

    task: asyncio.Task[bool]
    gaps: list[tuple[TP, int, int]]
    began: float
    handed: int


class BatchApp(faust.App):
    """A Faust app whose consumer hands whole fetches to ``batch_handler`` instead of agents."""

    batch_handler: BatchHandler | None = None
    align_by_time: int | None = None
    """Hand a catch-up over in event-time order across partitions (``shared.consuming.alignment``),
    holding at most this many fetched records meanwhile; ``None``: hand each fetch over as it came."""
    batch_window: float = 0.0
    """Live, after a batch smaller than a fetch, the next fetch waits until this long (seconds) after
    that batch began, so what arrives meanwhile goes as one batch; ``0``: fetch again at once."""


class BatchConsumer(aiokafka_driver.Consumer):
    """The aiokafka consumer of Faust with a drain loop that delivers one fetch at a time."""

    fetches: int = 0
    """Fetches handed to the handler (tests and benchmarks read it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fetched_to: dict[TP, int] = {}
        self._tracked_to: dict[TP, int] = {}
        self._behind: list[TP] = []
        self._gather_until = 0.0

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Replace Faust's per-message drain loop: fetch, track, hand over, acknowledge, repeat."""
        handler = self._handler()
        aligner = self._aligner()
        seen_generation: int | None = None
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set  # type: ignore[attr-defined]
        in_flight: deque[_HandedOver] = deque()
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                pause = self._gather_until - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                wanted = self._wanted(aligner)
                if wanted is None:
                    fetched, active = await self._wait_next_records(1.0)
                else:
                    fetched, active = await self._wait_records_of(wanted, 1.0)
                if self.should_stop or not (fetched or (aligner is not None and aligner.held)):
                    await self._finish(in_flight, aligner, keep=0)
                    continue
                if not self.flow_active:
                    # A rebalance started while fetching: the new assignment seeks to committed offsets.
                    await self._finish(in_flight, aligner, keep=0)
                    self._forget_fetched(aligner)
                    await self._seek_back_quietly()
                    continue
                generation = self.app.consumer_generation_id
                if generation != seen_generation:
                    # what was held or tracked belongs to the previous assignment
                    await self._finish(in_flight, aligner, keep=0)
                    self._forget_fetched(aligner)
                    seen_generation = generation
                records = fetched if aligner is None else self._aligned(aligner, fetched or {}, active)
                messages, raws, gaps = self._track(records, active)
                if not messages:
                    continue
                began = time.monotonic()
                task = asyncio.ensure_future(self._hand_over(handler, messages, raws, generation))
                in_flight.append(_HandedOver(task, gaps, began, len(raws)))
                catching_up = self._catching_up(len(raws), aligner)
                await self._finish(in_flight, aligner, keep=IN_FLIGHT - 1 if catching_up else 0)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            for each in in_flight:
                each.task.cancel()
            await asyncio.gather(*(each.task for each in in_flight), return_exceptions=True)
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _finish(self, in_flight: deque[_HandedOver], aligner: TimeAligner[TP, Any] | None, keep: int) -> None:
        """Wait for the oldest batches until at most ``keep`` are in flight; settle each one's offsets.

        A batch given up (a rebalance or a generation change) takes the ones after it along: they
        were fetched under the same assignment, and the next one seeks to the committed offsets.
        """
        commit_every = self._commit_every
        while len(in_flight) > keep:
            oldest = in_flight.popleft()
            if not await oldest.task:
                await asyncio.gather(*(each.task for each in in_flight), return_exceptions=True)
                in_flight.clear()
                self._forget_fetched(aligner)
                return
            self._gather_until = self._next_fetch_after(oldest.began, oldest.handed, aligner)
            for tp, start, end in oldest.gaps:
                await self._add_gap(tp, start, end)
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()

    def _catching_up(self, handed: int, aligner: TimeAligner[TP, Any] | None) -> bool:
        """Whether more records are surely waiting: a whole fetch was handed over, or the aligner holds some."""
        full = self.app.conf.broker_max_poll_records or 1
        return handed >= full or (aligner is not None and bool(aligner.held))

    def _next_fetch_after(self, began: float, handed: int, aligner: TimeAligner[TP, Any] | None) -> float:
        """When the next fetch may go: at once while catching up, ``batch_window`` after ``began`` live.

        Why: live, each fetch held the one or two records that had arrived since the previous one,
        and a batch costs a transaction and a dozen statements however small it is. Measured with the
        reads benchmark at 5,000 customers and 300 live events/s, alternated: the 360 projector spent
        746-851 µs of CPU per live event with a 50 ms window, 1,399-1,559 µs without. The stream
        transport gathers the same way (``take_events(within=batch_window)``). A catch-up never waits:
        its batches are whole fetches, or the aligner still holds records.
        """
        window: float = self.app.batch_window  # type: ignore[attr-defined]
        full = self.app.conf.broker_max_poll_records or 1
        if not window or handed >= full or (aligner is not None and aligner.held):
            return 0.0
        return began + window

    def _handler(self) -> BatchHandler:
        handler = getattr(self.app, "batch_handler", None)
        if handler is None:
            raise RuntimeError(f"the {SCHEME}:// transport needs a BatchApp with a batch_handler")
        return handler  # type: ignore[no-any-return]

    def _aligner(self) -> TimeAligner[TP, Any] | None:
        limit = getattr(self.app, "align_by_time", None)
        return TimeAligner(limit) if limit else None

    def _wanted(self, aligner: TimeAligner[TP, Any] | None) -> set[TP] | None:
        """The partitions to read next in a catch-up: the ones furthest back in event time.

        The fetcher drains one partition's buffered records before the next one's; asking only for
        the laggards keeps every partition's reading near the same event time, and what the aligner
        holds small. ``None``: read every active partition (live, or aligning off).
        """
        if aligner is None:
            return None
        return aligner.laggards(self._behind) or None

    async def _wait_records_of(self, partitions: set[TP], within: float) -> tuple[Any, set[TP] | None]:
        """``Consumer._wait_next_records``, reading only ``partitions`` (those of them still active)."""
        if not self.flow_active:
            await self.wait(self.can_resume_flow)  # type: ignore[arg-type]
        try:
            self.not_waiting_next_records.set()
            active = self._get_active_partitions()
            chosen = partitions & active
            if not chosen:  # an empty set would ask the fetcher for every partition
                return await self._wait_next_records(within)
            return await self._getmany(active_partitions=chosen, timeout=within), active
        finally:
            self.not_waiting_next_records.set()

    def _aligned(self, aligner: TimeAligner[TP, Any], fetched: Any, active: set[TP] | None) -> dict[TP, list[Any]]:
        """What of the held and the newly fetched records may go now (``shared.consuming.alignment``)."""
        assigned = active if active is not None else set(fetched)
        aligner.keep_only(assigned | self._buffered_partitions)
        fetched_to = self._fetched_to
        for tp, batch in fetched.items():
            if batch and (active is None or tp in active or tp in self._buffered_partitions):
                aligner.add(tp, [(event_time(record.headers), record) for record in batch])
                fetched_to[tp] = batch[-1].offset
        fetch_size = self.app.conf.broker_max_poll_records or 1
        self._behind, lag = self._partitions_behind(assigned, unknown_lag=fetch_size)
        # Catching up (a fetch or more behind), half a fetch at least per batch: a batch has a cost of
        # its own. Live, a few records behind, whatever is ready goes at once.
        at_least = fetch_size // 2 if lag >= fetch_size else 0
        return aligner.release(self._behind, force=not fetched, at_least=at_least)

    def _partitions_behind(self, assigned: set[TP], unknown_lag: int) -> tuple[list[TP], int]:
        """Assigned partitions with records on the broker beyond those fetched, and how many records
        they are behind together (``unknown_lag`` for one no fetch answered yet)."""
        fetched_to = self._fetched_to
        behind = []
        lag = 0
        for tp in assigned:
            try:
                highwater = self.highwater(tp)
            except (AssertionError, KeyError):
                continue  # no longer assigned: a rebalance is starting, which clears the aligner
            last = fetched_to.get(tp)
            if highwater is None:
                if last is None:  # no fetch answered for it yet: its first records may be the oldest
                    behind.append(tp)
                    lag += unknown_lag
                continue
            if last is None:
                start = self._read_offset[tp]  # the committed offset the assignment sought to, if any
                last = -1 if start is None else start - 1
            if highwater > last + 1:
                behind.append(tp)
                lag += highwater - last - 1
        return behind, lag

    def _forget_fetched(self, aligner: TimeAligner[TP, Any] | None) -> None:
        """Held records are fetched again after a seek: forget them and how far each partition was read."""
        if aligner is not None:
            aligner.clear()
        self._fetched_to.clear()
        self._tracked_to.clear()
        self._behind = []

    def _track(
        self, records: Any, active: set[TP] | None
    ) -> tuple[list[Message], list[RawRecord], list[tuple[TP, int, int]]]:
        """Messages of the fetch that are new for this consumer, each marked unacknowledged."""
        read_offset = self._read_offset
        buffered = self._buffered_partitions
        acks_enabled_for = self.app.topics.acks_enabled_for
        to_message = self._to_message
        track = self.track_message
        messages: list[Message] = []
        raws: list[RawRecord] = []
        gaps: list[tuple[TP, int, int]] = []
        tracked_to = self._tracked_to
        for tp, batch in records.items():
            if active is not None and tp not in active and tp not in buffered:
                continue
            last = read_offset[tp]
            # a batch still in flight has not moved the read offset yet: its records are no gap
            previous = max(last or 0, tracked_to.get(tp, 0)) or last
            for record in batch:
                offset = record.offset
                if last is not None and offset < last:
                    continue  # already handed over before a seek backwards
                if previous and offset - previous > 1 and acks_enabled_for(record.topic):
                    gaps.append((tp, previous + 1, offset))  # compaction or transaction markers
                message = to_message(tp, record)
                track(message)
                messages.append(message)
                raws.append(RawRecord(record.topic, record.partition, offset, record.key, record.value,
                                      tuple(record.headers or ())))
                last = previous = tracked_to[tp] = offset
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
        return messages, raws, gaps

    async def _hand_over(
        self, handler: BatchHandler, messages: list[Message], raws: list[RawRecord], generation: int
    ) -> bool:
        """Run the handler until it returns, then acknowledge; False if the batch was given up."""
        delay = RETRY_INITIAL
        while True:
            if not self.flow_active or self.app.consumer_generation_id != generation:
                self._give_up(messages)
                return False
            try:
                await handler(raws)
                break
            except asyncio.CancelledError:
                self._give_up(messages)
                raise
            except Exception:
                log.exception("batch handler failed; the batch stays unacknowledged and is retried",
                              extra={"records": len(raws), "retry_in_s": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
        ack = self.ack
        read_offset = self._read_offset
        for message in messages:
            ack(message)
            if (read_offset[message.tp] or -1) < message.offset:
                read_offset[message.tp] = message.offset
        self.fetches += 1
        return True

    def _give_up(self, messages: list[Message]) -> None:
        # Unacknowledged and no longer pending: wait_empty may proceed, the offsets stay uncommitted.
        unacked = self._unacked_messages
        for message in messages:
            unacked.discard(message)

    async def _seek_back_quietly(self) -> None:
        try:
            await self.perform_seek()
        except Exception as exc:
            log.warning("seek to committed offsets failed while flow was stopped", extra={"error": repr(exc)})


class BatchTransport(aiokafka_driver.Transport):
    """Faust's aiokafka transport with ``BatchConsumer``; producer and admin are unchanged."""

    Consumer: ClassVar[type[Any]] = BatchConsumer


def register() -> None:
    """Make ``c360batch://`` resolve to ``BatchTransport`` in Faust's transport registry (idempotent)."""
    drivers.TRANSPORTS.aliases[SCHEME] = f"{__name__}:BatchTransport"


def broker_urls(bootstrap_servers: str) -> list[str]:
    """Broker URLs selecting this transport for a comma-separated bootstrap list."""
    register()
    return [f"{SCHEME}://{server.strip()}" for server in bootstrap_servers.split(",") if server.strip()]
