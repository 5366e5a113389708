"""Import use case: an enterprise's past survey answers as this service's events (issue 18, ADR 0009).

An imported answer is judged by the same rule as a live one (``domain.surveys.answer_survey``: the
score range of its kind, NPS category from the score) against a survey standing for the one the
source sent, and recorded as ``SurveyAnswered`` on its own ``survey-import-<id>`` stream at the
source's ``occurred_at``, marked as imported history, so the NPS of 2020 is 2020's and no campaign
reacts to it (``engine.handle_event`` ignores imported history).

Customers arrive resolved (source id → customer id) by the importer through the customer service;
campaigns never reads the customer database. A batch is one transaction (events, outbox, ledger).
Answers do not change: a record whose content changed after import is a reject.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from services.campaigns.domain.surveys import SURVEY_VALIDITY, SurveyState, answer_survey
from shared.contracts.campaigns import SurveyKind
from shared.errors import PlatformError
from shared.importing import ledger
from shared.importing.batches import write_batch
from shared.importing.records import Numbered, SurveyAnswerRecord, fingerprint
from shared.importing.results import BatchResult
from shared.store.eventstore import EventStore, StreamAppend

KINDS = ("survey_answer",)
_TOKEN = "imported"
"""Imported answers came through the source's own link; the token check is satisfied by construction."""


def survey_stream(survey_id: UUID) -> str:
    return f"survey-import-{survey_id}"


async def import_batch(pool: asyncpg.Pool, store: EventStore, records: Sequence[Numbered],
                       customers: Mapping[str, UUID]) -> BatchResult:
    """Import a batch of survey answers in one transaction (record by record if it loses a race)."""
    return await write_batch(pool, records, lambda conn, some: _import(conn, store, some, customers))


async def _import(conn: asyncpg.Connection, store: EventStore, records: Sequence[Numbered],
                  customers: Mapping[str, UUID]) -> BatchResult:
    result = BatchResult()
    known = await ledger.lookup(conn, ((n.record.kind, n.record.source_id) for n in records))
    streams: list[StreamAppend] = []
    entries: dict[ledger.Key, ledger.LedgerEntry] = {}
    for numbered in records:
        record: SurveyAnswerRecord = numbered.record
        entry, digest = ledger.entry_of(record, entries, known), fingerprint(record)
        if entry is not None:
            if entry.fingerprint == digest:
                result.unchanged += 1
            else:
                result.rejects.append(numbered.reject("an imported survey answer cannot change"))
            continue
        customer_id = customers.get(record.customer_source_id)
        if customer_id is None:
            result.rejects.append(numbered.reject(
                f"unknown reference: no customer with source_id {record.customer_source_id!r} "
                "earlier in the input or imported before"))
            continue
        survey_id = ledger.entity_id("survey_answer", record.source_id)
        survey = SurveyState(survey_id=str(survey_id), customer_id=str(customer_id),
                             kind=SurveyKind(record.survey_kind), token=_TOKEN,
                             expires_at=record.occurred_at + SURVEY_VALIDITY)
        try:
            answered = answer_survey(survey, token=_TOKEN, score=record.score, comment=record.comment,
                                     now=record.occurred_at)
        except PlatformError as exc:
            result.rejects.append(numbered.reject(str(exc)))
            continue
        streams.append(StreamAppend(stream_id=survey_stream(survey_id), stream_type="survey", expected_version=0,
                                    subject=str(customer_id), events=[answered], times=[record.occurred_at]))
        entries[ledger.key_of(record)] = ledger.LedgerEntry("survey_answer", record.source_id, survey_id,
                                                            customer_id, digest, "created")
        result.created += 1
    result.events = await store.append_many(conn, streams, history=True)
    await ledger.record(conn, list(entries.values()))
    return result


@dataclass
class Importer:
    """Campaigns' import use case bound to its database (``shared.importing`` drives it)."""

    pool: asyncpg.Pool
    store: EventStore
    kinds: tuple[str, ...] = KINDS
    pipelined: bool = False

    async def import_batch(self, records: Sequence[Numbered], customers: Mapping[str, UUID]) -> BatchResult:
        return await import_batch(self.pool, self.store, records, customers)

    async def close(self) -> None:
        await self.pool.close()
