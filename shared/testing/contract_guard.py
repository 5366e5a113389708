"""The test suite's contract guard: every event any test writes must satisfy its published contract.

Why at the database and not around ``EventStore.append``: events reach the log and the outbox by
several paths (the event store, the campaigns' batch decision log, analytics' batch signal append,
the campaigns' message requests on ``campaigns.messages``), in the test process and in the
platform's subprocesses (APIs, relays, workers started by ``shared.testing.platform``). Every one of
them ends in the ``events`` or ``outbox`` table of a database the test plugin created, so that is
where the guard looks: after each test it reads the rows written since its last look, in every
database still alive, and checks

* each stored event's data against ``schemas/<domain>/<Type>/v<N>.json`` (JSON Schema 2020-12, formats
  asserted: a ``date-time`` must carry an offset, a ``date`` must be a date, money a decimal string);
* each outbox record (what the relay publishes) the same way, and that its topic is one the AsyncAPI
  document (``docs/asyncapi.yaml``) declares its ``ce_type`` on.

A violation fails the test that was running (``shared.testing.plugin``), naming the event, the field
and the rule. Only our own event types are checked: tests' throwaway types (``customer360.testing``)
and records without a ``ce_type`` have no published contract.

Reading "every row since last time" without missing one that commits late: identity positions are
handed out at insert, not at commit. Events carry their transaction id, so the guard follows
``(tx_id, position)`` and only moves its checkpoint past transactions older than every running one,
like ``EventStore.read_all``. Outbox rows have no transaction id (and are updated when published), so
the guard remembers the rows it checked above a low watermark and moves the watermark to the
position sequence's value of an earlier look once every transaction then writing to the database
has ended.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import asyncpg
import jsonschema_rs
import orjson
import yaml

import shared.contracts  # noqa: F401 - registers every published event type
from shared.events.catalog import CATALOG, Catalog, parse_ce_type
from shared.schemagen import channel_types

REPO_ROOT = Path(__file__).resolve().parents[2]

_DECIMAL = re.compile(r"-?\d+(\.\d+)?")

_EVENTS_SQL = """
select position, tx_id::text::bigint as tx, event_id::text as event_id, stream_id, event_type, event_version,
       data::text as data, tx_id < pg_snapshot_xmin(pg_current_snapshot()) as final
from events
where (tx_id, position) > ($1::text::xid8, $2)
order by tx_id, position
"""
_OUTBOX_SQL = (
    "select position, topic, headers::text as headers, payload from outbox where position > $1 order by position"
)
_WRITERS_SQL = """
select coalesce(array_agg(backend_xid::text), '{}') from pg_stat_activity
where datname = current_database() and backend_xid is not null and pid <> pg_backend_pid()
"""
_OUTBOX_HEAD_SQL = "select coalesce(pg_sequence_last_value(pg_get_serial_sequence('outbox', 'position')::regclass), 0)"


class ContractViolation(AssertionError):
    """Events written during a test do not satisfy their published contract."""


@dataclass
class _Watch:
    """How far the guard has read one database."""

    dsn: str
    events_after: tuple[int, int] = (0, 0)
    events_seen: set[int] = field(default_factory=set)
    outbox_low: int = 0
    outbox_seen: set[int] = field(default_factory=set)
    outbox_candidate: tuple[int, frozenset[str]] | None = None
    conn: asyncpg.Connection | None = None
    """Kept open between looks (on the guard's own loop): a connection per look would cost more than the look."""


class ContractGuard:
    """Checks the rows written to the registered databases against schemas/ and docs/asyncapi.yaml."""

    def __init__(self, *, root: Path = REPO_ROOT, catalog: Catalog = CATALOG) -> None:
        self.root = root
        self.catalog = catalog
        self._watches: dict[str, _Watch] = {}
        self._validators: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._checking: asyncio.Lock | None = None
        self.events_checked = 0
        self.records_checked = 0
        self.seconds = 0.0
        """What the guard did this session (the plugin prints it at the end)."""

    # --- which databases ------------------------------------------------------------------------

    def watch(self, name: str, dsn: str) -> None:
        """Start checking a database (the plugin calls this when it creates one)."""
        with self._lock:
            self._watches.setdefault(name, _Watch(dsn))

    def forget(self, names: Iterable[str]) -> None:
        """Stop checking these databases (they are being dropped); closes the guard's connections to them."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._forget(list(names)), self._loop).result(timeout=30)
        else:
            with self._lock:
                for name in names:
                    self._watches.pop(name, None)

    async def _forget(self, names: list[str]) -> None:
        with self._lock:
            gone = [self._watches.pop(name) for name in names if name in self._watches]
        for watch in gone:
            await _close(watch)

    def close(self) -> None:
        """Close every connection and stop the guard's loop (end of the session)."""
        if self._loop is None:
            return
        self.forget(self.watched())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop = None

    def watched(self) -> list[str]:
        with self._lock:
            return list(self._watches)

    # --- the contracts ----------------------------------------------------------------------------

    @cached_property
    def channels(self) -> dict[str, set[str]]:
        """Topic address → the ce_types docs/asyncapi.yaml declares on it."""
        document = yaml.safe_load((self.root / "docs" / "asyncapi.yaml").read_text())
        return channel_types(document)

    def validator(self, event_type: str, version: int) -> Any | None:
        """The published schema's validator, or None when the type has no published contract."""
        key = (event_type, version)
        if key not in self.catalog:
            return None
        with self._lock:
            if key not in self._validators:
                model = self.catalog.model(event_type, version)
                path = self.root / "schemas" / model.domain / event_type / f"v{version}.json"
                schema = orjson.loads(path.read_bytes())
                self._validators[key] = jsonschema_rs.validator_for(
                    schema, validate_formats=True, formats={"decimal": lambda s: bool(_DECIMAL.fullmatch(s))},
                    offline=True,
                )
            return self._validators[key]

    def violations(self, event_type: str, version: int, data: Any) -> list[str]:
        """Why ``data`` does not satisfy the published schema of ``event_type`` v``version`` (empty: it does)."""
        validator = self.validator(event_type, version)
        if validator is None:
            return []
        model = self.catalog.model(event_type, version)
        where = f"schemas/{model.domain}/{event_type}/v{version}.json"
        return [
            f"{'/'.join(str(p) for p in error.instance_path) or '(root)'}: {_explain(error)} (violates {where})"
            for error in validator.iter_errors(data)
        ]

    def declared_topics(self, ce_type: str) -> list[str]:
        return sorted(topic for topic, types in self.channels.items() if ce_type in types)

    def logical_topic(self, physical: str) -> str | None:
        """The platform topic a physical (test-prefixed) topic name stands for, if it is one."""
        return next((address for address in self.channels if physical.endswith(address)), None)

    # --- reading the databases --------------------------------------------------------------------

    def check(self, names: Iterable[str] | None = None) -> list[str]:
        """Check the rows written since the last look (all watched databases by default); the problems."""
        if not self._watches:
            return []  # most unit tests: no database, no work
        return asyncio.run_coroutine_threadsafe(self._check(names), self._guard_loop()).result()

    async def check_async(self, names: Iterable[str] | None = None) -> list[str]:
        """``check`` for callers inside an event loop (the plugin's database factory)."""
        if not self._watches:
            return []
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._check(names), self._guard_loop()))

    def _guard_loop(self) -> asyncio.AbstractEventLoop:
        """The guard's own loop in a daemon thread: its connections outlive the tests' loops."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="contract-guard", daemon=True).start()
                self._loop = loop
            return self._loop

    async def _check(self, names: Iterable[str] | None) -> list[str]:
        if self._checking is None:
            self._checking = asyncio.Lock()  # created on the guard's loop, which runs every look
        async with self._checking:
            return await self._check_watched(names)

    async def _check_watched(self, names: Iterable[str] | None) -> list[str]:
        with self._lock:
            chosen = list(self._watches.items()) if names is None else [
                (n, self._watches[n]) for n in names if n in self._watches
            ]
        started = time.perf_counter()
        problems: list[str] = []
        for name, watch in chosen:
            problems.extend(await self._check_database(name, watch))
        self.seconds += time.perf_counter() - started
        return problems

    async def _check_database(self, name: str, watch: _Watch) -> list[str]:
        if watch.conn is None or watch.conn.is_closed():
            try:
                watch.conn = await asyncpg.connect(watch.dsn, timeout=5)
            except asyncpg.InvalidCatalogNameError:
                with self._lock:
                    self._watches.pop(name, None)  # dropped by other means than the plugin
                return []
            except (OSError, TimeoutError, asyncpg.CannotConnectNowError, asyncpg.OperatorInterventionError):
                return []  # the server is down or starting (a chaos test): look again later
        try:
            return await self._read(name, watch, watch.conn)
        except (OSError, asyncpg.ConnectionDoesNotExistError, asyncpg.OperatorInterventionError):
            await _close(watch)  # the server went down or the database is being dropped: not a finding
            return []

    async def _read(self, name: str, watch: _Watch, conn: asyncpg.Connection) -> list[str]:
        problems: list[str] = []
        reported: set[str] = set()

        # Rows of finished transactions come first in (tx_id, position) order: the checkpoint moves to
        # the last of them; the rest (committed, but a transaction older than theirs may still be
        # running) are remembered so the next look does not check them twice.
        rows = await conn.fetch(_EVENTS_SQL, str(watch.events_after[0]), watch.events_after[1])
        for row in rows:
            if row["final"]:
                watch.events_after = (row["tx"], row["position"])
            if row["position"] in watch.events_seen:
                continue
            watch.events_seen.add(row["position"])
            self.events_checked += 1
            found = self.violations(row["event_type"], row["event_version"], orjson.loads(row["data"]))
            if found:
                reported.add(row["event_id"])
                problems.append(
                    f"{row['event_type']} v{row['event_version']} event {row['event_id']} (stream "
                    f"{row['stream_id']}, database {name}) breaks its published schema:\n    " + "\n    ".join(found)
                )
        watch.events_seen = {row["position"] for row in rows if not row["final"]}

        writers = set(await conn.fetchval(_WRITERS_SQL))
        settled = watch.outbox_candidate is not None and not (watch.outbox_candidate[1] & writers)
        for row in await conn.fetch(_OUTBOX_SQL, watch.outbox_low):
            if row["position"] in watch.outbox_seen:
                continue
            watch.outbox_seen.add(row["position"])
            self.records_checked += 1
            problems.extend(self._check_record(name, row, reported))
        if settled and watch.outbox_candidate is not None:
            watch.outbox_low = max(watch.outbox_low, watch.outbox_candidate[0])
            watch.outbox_seen = {p for p in watch.outbox_seen if p > watch.outbox_low}
        if watch.outbox_candidate is None or settled:
            head = int(await conn.fetchval(_OUTBOX_HEAD_SQL))
            watch.outbox_candidate = (head, frozenset(await conn.fetchval(_WRITERS_SQL)))
        return problems

    def _check_record(self, name: str, row: asyncpg.Record, reported: set[str]) -> list[str]:
        headers = orjson.loads(row["headers"])
        ce_type = headers.get("ce_type")
        if not isinstance(ce_type, str):
            return []
        try:
            parsed = parse_ce_type(ce_type)
        except ValueError:
            return []
        if (parsed.event_type, parsed.version) not in self.catalog:
            return []
        problems: list[str] = []
        event_id = headers.get("ce_id", "?")
        topic = self.logical_topic(row["topic"])
        declared = self.declared_topics(ce_type)
        if topic is not None and topic not in declared:
            problems.append(
                f"{ce_type} record {event_id} (database {name}) is published on {topic}, but docs/asyncapi.yaml "
                f"declares it on {', '.join(declared) or 'no channel'}"
            )
        if event_id not in reported:
            try:
                data = orjson.loads(row["payload"])
            except orjson.JSONDecodeError:
                return [*problems, f"{ce_type} record {event_id} (database {name}) is not JSON"]
            found = self.violations(parsed.event_type, parsed.version, data)
            if found:
                problems.append(
                    f"{ce_type} record {event_id} on {row['topic']} (database {name}) breaks its published "
                    "schema:\n    " + "\n    ".join(found)
                )
        return problems


def _explain(error: Any) -> str:
    """The error, with the reasons of its ``anyOf``/``oneOf`` branches (pydantic writes ``X | None`` so)."""
    branches = getattr(error.kind, "context", None) or []
    reasons = [e.message for branch in branches for e in branch if not e.message.endswith('is not of type "null"')]
    if not reasons:
        return str(error.message)
    return f"{'; '.join(dict.fromkeys(reasons))} (no alternative of {error.kind.name} matches)"


async def _close(watch: _Watch) -> None:
    if watch.conn is not None:
        conn, watch.conn = watch.conn, None
        conn.terminate()


_ACTIVE: ContractGuard | None = None


def activate(guard: ContractGuard | None) -> None:
    """Make ``guard`` the one databases created by the test plugin register with (None: no guard)."""
    global _ACTIVE
    _ACTIVE = guard


def active() -> ContractGuard | None:
    """The guard of this test session, if the plugin installed one."""
    return _ACTIVE
