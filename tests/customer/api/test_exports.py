"""Export jobs when a service cannot give its part (the job fails, naming the service, never a partial
document) and when the process running one dies (the next process restarts it).

The customer app runs on a real database; ticketing's URL is a port nobody listens on (a service that is
down). The whole platform's happy path is ``tests/privacy/test_export.py``.
"""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from shared.settings import PlatformSettings
from shared.store.db import connect
from shared.testing.platform import free_port, run_blocking, start_platform, stop_platform
from shared.testing.plugin import DatabaseFactory
from shared.testing.waiting import eventually, eventually_sync
from tests.customer.api.conftest import a_customer, running_customer_service


async def test_a_service_that_cannot_give_its_part_fails_the_export_with_the_reason(
    make_database: Callable[..., Awaitable[str]], platform_settings: PlatformSettings
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    async with running_customer_service(make_database, platform_settings, ticketing_api_url=down) as service:
        customer = await service.register()
        admin = service.token("admin")
        accepted = await service.client.post(f"/v1/customers/{customer['id']}/exports", headers=admin)
        assert accepted.status_code == 202, accepted.text

        async def status() -> dict[str, Any]:
            body: dict[str, Any] = (await service.client.get(accepted.headers["location"], headers=admin)).json()
            return body

        failed = await eventually(status, until=lambda s: s["status"] != "running", timeout=30,
                                  message="the export to end")
        assert failed["status"] == "failed" and failed["error"].startswith("ticketing: ")
        parts = {p["service"]: p for p in failed["progress"]["parts"]}
        assert parts["customer"]["status"] == "done" and parts["ticketing"]["status"] == "failed"
        assert parts["campaigns"]["status"] == "pending" and failed["progress"]["parts_done"] == 1
        assert failed["document"] is None
        document = await service.client.get(f"{accepted.headers['location']}/document", headers=admin)
        assert document.status_code == 409
        assert document.headers["content-type"].startswith("application/problem+json")


async def test_an_erased_or_unknown_customer_cannot_be_exported(customer_service: Any) -> None:
    admin = customer_service.token("admin")
    customer = await customer_service.register()
    assert (await customer_service.client.delete(f"/v1/customers/{customer['id']}", headers=admin)).status_code == 204
    erased = await customer_service.client.post(f"/v1/customers/{customer['id']}/exports", headers=admin)
    assert erased.status_code == 410
    started = await customer_service.app.state.pool.fetchval("select count(*) from customer_exports")
    assert started == 0


class _Services(http.server.ThreadingHTTPServer):
    """The other services' part endpoints as one real HTTP server (``/<service>/v1/internal/...``).

    Ticketing's first request hangs until ``release`` (the job is mid-run when its process is killed);
    every later request gets the service's (empty) part at once.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _PartHandler)
        self.release = threading.Event()
        self.requests: list[str] = []
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _PartHandler(http.server.BaseHTTPRequestHandler):
    server: _Services

    def do_GET(self) -> None:
        service = self.path.split("/")[1]
        with self.server.lock:
            self.server.requests.append(service)
            first = self.server.requests.count("ticketing") == 1 and service == "ticketing"
        if first:
            self.server.release.wait(timeout=120)
        body = json.dumps({"service": service, "exported_at": "2026-12-06T00:00:00.000000Z", "sections": {},
                           "tables": {}, "not_personal": {}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_an_export_whose_process_is_killed_mid_job_is_restarted_by_the_next_process(
    database_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    """SIGKILL the customer API while its export waits on ticketing; the restarted API adopts the job
    once its lease runs out and runs it again from scratch to the end (no job hangs in 'running')."""
    services = _Services()
    threading.Thread(target=services.serve_forever, daemon=True).start()
    platform = start_platform(
        database_factory=database_factory, kafka_bootstrap=kafka_bootstrap, services=("customer",),
        workers={"customer": ()}, relays=False, name="expdie",
        extra_env={"TICKETING_API_URL": f"{services.base}/ticketing", "CAMPAIGNS_API_URL": f"{services.base}/campaigns",
                   "ANALYTICS_API_URL": f"{services.base}/analytics", "CUSTOMER_EXPORT_LEASE_SECONDS": "2"},
    )
    try:
        admin = {"Authorization": f"Bearer {platform.admin_token}"}
        customer = httpx.post(platform.url("customer", "/v1/customers"), json=a_customer(), timeout=30,
                              headers={**admin, "Idempotency-Key": str(uuid.uuid4())})
        assert customer.status_code == 201, customer.text
        accepted = httpx.post(platform.url("customer", f"/v1/customers/{customer.json()['id']}/exports"),
                              headers=admin, timeout=30)
        assert accepted.status_code == 202, accepted.text
        status_url = platform.url("customer", accepted.headers["location"])
        export_id = accepted.json()["id"]

        def lease() -> Any:
            return run_blocking(_lease_of(platform.dsns["customer"], export_id))

        first = eventually_sync(lease, until=lambda row: "ticketing" in services.requests, timeout=30,
                                message="the job to ask ticketing for its part")
        assert first["status"] == "running" and first["runs"] == 1 and first["parts"]["customer"]["status"] == "done"
        killed_at = datetime.now(UTC)
        assert platform.kill("customer-api")  # SIGKILL: the job dies with its process, its row says 'running'
        assert lease()["status"] == "running"

        platform.restart("customer-api")
        done = eventually_sync(lambda: httpx.get(status_url, headers=admin, timeout=10).json(),
                               until=lambda body: body["status"] != "running", timeout=60,
                               message="the adopted export to end")
        assert done["status"] == "done", done
        again = lease()
        assert again["runs"] == 2 and again["lease_owner"] is None
        # restarted from scratch: the customer part was read again after the kill, ticketing asked twice
        customer_part = next(p for p in done["progress"]["parts"] if p["service"] == "customer")
        assert datetime.fromisoformat(customer_part["finished_at"].replace("Z", "+00:00")) > killed_at
        assert services.requests.count("ticketing") == 2
        assert services.requests.count("campaigns") == services.requests.count("analytics") == 1
        document = httpx.get(f"{status_url}/document", headers=admin, timeout=10)
        assert document.status_code == 200
        assert [p["service"] for p in document.json()["services"]] == ["customer", "ticketing", "campaigns",
                                                                        "analytics"]
    finally:
        services.release.set()
        stop_platform(platform, database_factory)
        services.shutdown()


async def _lease_of(dsn: str, export_id: str) -> dict[str, Any]:
    conn = await connect(dsn)
    try:
        row = await conn.fetchrow("select status, runs, lease_owner, parts from customer_exports where id = $1",
                                  uuid.UUID(export_id))
        assert row is not None
        return dict(row)
    finally:
        await conn.close()
