"""Importers reached over HTTP: how an import job in the customer service hands tickets and survey
answers to ticketing and campaigns without touching their databases.

Each owning service serves ``POST /v1/imports/batches`` (scope ``admin``): records of its kinds with the
customer ids already resolved by the customer service, imported through its own use case in its own
transaction. The caller's bearer token is forwarded, so the job can do nothing its submitter may not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import httpx
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from shared.importing.records import Numbered, Reject
from shared.importing.results import BatchResult

SUB_BATCH = 400
"""Records per HTTP request: well under the services' default 1 MB body limit."""
MAX_ROWS = 1000
"""Rows a batch request may hold: one row more is a 422, still small enough (file names are at most
512 characters) not to hit the body limit's 413 first."""


class BatchRow(BaseModel):
    """One row of a batch: where it came from (for the reject file) and the record itself.

    Strict: a ``line`` of ``false`` or ``"3"`` is a 422, not silently line 0 or 3 (the schema says
    integer >= 1), and unknown properties are refused so a typo is not ignored.
    """

    model_config = ConfigDict(extra="forbid")

    file: StrictStr = Field(pattern=r"^[^\x00]*$", max_length=512)
    line: StrictInt = Field(ge=1)
    record: dict[str, Any]


class BatchRequest(BaseModel):
    """``POST /v1/imports/batches``: validated records of the service's kinds, customers resolved."""

    model_config = ConfigDict(extra="forbid")

    customers: dict[str, UUID] = Field(default_factory=dict)
    rows: list[BatchRow] = Field(max_length=MAX_ROWS)


class BatchAnswer(BaseModel):
    created: int
    updated: int
    linked: int
    unchanged: int
    events: int
    rejects: list[Reject]

    @classmethod
    def of(cls, result: BatchResult) -> BatchAnswer:
        return cls(created=result.created, updated=result.updated, linked=result.linked,
                   unchanged=result.unchanged, events=result.events, rejects=result.rejects)


class HttpImporter:
    """A ``ServiceImporter`` that is another service's ``/v1/imports/batches``."""

    pipelined = False

    def __init__(self, base_url: str, token: str, kinds: tuple[str, ...], *, timeout: float = 120.0) -> None:
        self.kinds = kinds
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout,
                                         headers={"Authorization": f"Bearer {token}"})

    async def import_batch(self, records: Sequence[Numbered], customers: Mapping[str, UUID]) -> BatchResult:
        total = BatchResult()
        for start in range(0, len(records), SUB_BATCH):
            part = records[start:start + SUB_BATCH]
            wanted = {n.record.customer_source_id for n in part if hasattr(n.record, "customer_source_id")}
            body = BatchRequest(
                customers={k: v for k, v in customers.items() if k in wanted},
                rows=[BatchRow(file=n.file, line=n.line, record=n.record.model_dump(mode="json")) for n in part],
            )
            response = await self._client.post("/v1/imports/batches", content=body.model_dump_json(),
                                               headers={"Content-Type": "application/json"})
            response.raise_for_status()
            answer = BatchAnswer.model_validate_json(response.content)
            total.add(BatchResult(answer.created, answer.updated, answer.linked, answer.unchanged, answer.events,
                                  list(answer.rejects)))
        return total

    async def close(self) -> None:
        await self._client.aclose()
