"""Export jobs when a service cannot give its part: the job fails, naming the service, never a partial document.

The customer app runs on a real database; ticketing's URL is a port nobody listens on (a service that is
down). The whole platform's happy path is ``tests/privacy/test_export.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from shared.settings import PlatformSettings
from shared.testing.platform import free_port
from shared.testing.waiting import eventually
from tests.customer.api.conftest import running_customer_service


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
