"""``POST /v1/imports`` as an operations team uses it: a job, its progress and result, problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

import pytest

from shared.settings import PlatformSettings
from shared.testing.waiting import eventually
from tests.customer.api.conftest import CustomerService, running_customer_service

from .builders import a_customer_row, a_payment_row, an_invoice_row, an_order_row, ndjson, tag

NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
async def service(
    make_database: Callable[..., Awaitable[str]], platform_settings: PlatformSettings
) -> AsyncIterator[CustomerService]:
    async with running_customer_service(make_database, platform_settings) as running:
        yield running


async def test_an_import_job_reports_progress_and_its_result_with_rejects(service: CustomerService) -> None:
    t = tag()
    body = ndjson([a_customer_row(f"C{t}"), an_order_row(f"O{t}", f"C{t}"), an_invoice_row(f"I{t}", f"O{t}"),
                   a_payment_row(f"P{t}", f"I{t}"), a_payment_row(f"Q{t}", f"I{t}", amount="0")])
    admin = {**service.token("admin"), **NDJSON}
    submitted = await service.client.post("/v1/imports", content=body, headers=admin)
    assert submitted.status_code == 202, submitted.text
    location = submitted.headers["Location"]

    async def job() -> dict[str, Any]:
        answer = await service.client.get(location, headers=service.token("admin"))
        assert answer.status_code == 200
        found: dict[str, Any] = answer.json()
        return found

    result = await eventually(job, until=lambda j: j["status"] != "running", timeout=60, message="the job ended")
    assert result["status"] == "succeeded"
    assert result["read"] == 5 and result["rejected"] == 1 and result["events"] == 4
    assert result["services"]["customer"]["created"] == 4
    assert [(r["line"], r["kind"]) for r in result["rejects"]] == [(5, "payment")]
    assert "greater than 0" in result["rejects"][0]["reason"]
    again = await service.client.post("/v1/imports", content=body, headers=admin)
    second = await eventually(lambda: _get(service, again.headers["Location"]),
                              until=lambda j: j["status"] != "running", timeout=60, message="the re-run ended")
    assert second["events"] == 0 and second["services"]["customer"]["unchanged"] == 4


async def _get(service: CustomerService, location: str) -> dict[str, Any]:
    answer = await service.client.get(location, headers=service.token("admin"))
    body: dict[str, Any] = answer.json()
    return body


async def test_bad_requests_are_problems_and_change_nothing(service: CustomerService) -> None:
    admin = service.token("admin")
    wrong_type = await service.client.post("/v1/imports", content=b'{"kind": "customer"}',
                                           headers={**admin, "Content-Type": "application/pdf"})
    assert wrong_type.status_code == 415
    assert wrong_type.headers["content-type"].startswith("application/problem+json")
    empty = await service.client.post("/v1/imports", content=b"\n\n", headers={**admin, **NDJSON})
    assert empty.status_code == 422
    assert empty.headers["content-type"].startswith("application/problem+json")
    staff = await service.client.post("/v1/imports", content=b"{}", headers={**service.staff, **NDJSON})
    assert staff.status_code == 403
    unknown = await service.client.get("/v1/imports/01890000-0000-7000-8000-000000000000", headers=admin)
    assert unknown.status_code == 404
    assert await service.app.state.pool.fetchval("select count(*) from import_jobs") == 0
    assert await service.app.state.pool.fetchval("select count(*) from events") == 0


async def test_a_file_larger_than_the_body_limit_is_streamed_to_disk_and_imported(service: CustomerService) -> None:
    t = tag()
    rows = [a_customer_row(f"C{t}-{i}", email=f"big{t}-{i}@example.com") for i in range(300)]
    padding = b" " * 5000  # JSON allows trailing blanks: a wide file without a slow import
    body = b"".join(line + padding + b"\n" for line in ndjson(rows).splitlines())
    assert len(body) > 1.4 * service.settings.max_body_bytes

    async def chunks() -> AsyncIterator[bytes]:  # chunked upload: no Content-Length to trust
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    admin = {**service.token("admin"), **NDJSON}
    submitted = await service.client.post("/v1/imports", content=chunks(), headers=admin)
    assert submitted.status_code == 202, submitted.text
    result = await eventually(lambda: _get(service, submitted.headers["Location"]),
                              until=lambda j: j["status"] != "running", timeout=120, message="the job ended")
    assert (result["status"], result["read"], result["rejected"]) == ("succeeded", 300, 0)
    assert result["services"]["customer"]["created"] == 300
    other = await service.client.post("/v1/imports/batches", content=body, headers={
        **service.token("admin"), "Content-Type": "application/json"})
    assert other.status_code == 413  # every other route keeps the 1 MB limit


async def test_a_job_whose_process_died_is_reported_failed_and_resubmitting_resumes(
        service: CustomerService) -> None:
    pool = service.app.state.pool
    lost = "01890000-0000-7000-8000-00000000dead"
    # What a process killed mid-job leaves: a running row nobody touches any more.
    await pool.execute("insert into import_jobs (id, status, submitted_by, created_at, updated_at)"
                       " values ($1, 'running', 'ops', now() - interval '10 minutes', now() - interval '2 minutes')",
                       UUID(lost))
    fresh = await _get(service, f"/v1/imports/{lost}")
    assert fresh["status"] == "failed"
    assert "submit the file again" in fresh["error"]
    assert (await _get(service, f"/v1/imports/{lost}"))["status"] == "failed"  # and it stays so
