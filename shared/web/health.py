"""Liveness and readiness, as Kubernetes probes and load balancers ask for them.

``/health/live`` only says the process answers HTTP: it checks nothing else, because restarting a pod
does not fix a database outage (and a liveness probe that follows the database restarts the whole
fleet at once). ``/health/ready`` runs the service's named checks concurrently, each with its own
timeout, and answers 503 while any fails, so traffic goes elsewhere until the dependency is back.

The answer names failed checks and the kind of failure, never the exception's text: the endpoint
has no auth, and connection errors tend to mention hosts, users and ports. The details are logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

import orjson
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response

from shared.errors import DependencyUnavailable
from shared.web.problems import RETRY_AFTER_SECONDS, problem_response

ReadinessCheck = Callable[[FastAPI], Awaitable[None]]
"""A readiness check: returns when the dependency is usable, raises when it is not."""

DEFAULT_CHECK_TIMEOUT: Final = 2.0
OK: Final = "ok"
TIMEOUT: Final = "timeout"

logger = logging.getLogger("shared.web.health")


class SupportsFetchval(Protocol):
    """What ``postgres_check`` needs of a pool (``asyncpg.Pool`` has it)."""

    async def fetchval(self, query: str, *args: Any) -> Any:
        """Run ``query`` and return one value."""
        ...


class JSONBody(Response):
    """A small ``application/json`` response encoded with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode with orjson."""
        return orjson.dumps(content)


async def run_checks(
    app: FastAPI, checks: Mapping[str, ReadinessCheck], check_timeout: float = DEFAULT_CHECK_TIMEOUT
) -> dict[str, str]:
    """Run every check concurrently, each within ``check_timeout`` seconds.

    The result maps each name to ``ok``, ``timeout`` or ``failed: <ExceptionType>``.
    """

    async def one(name: str, check: ReadinessCheck) -> tuple[str, str]:
        try:
            await asyncio.wait_for(check(app), check_timeout)
        except TimeoutError:
            logger.warning("readiness check %s timed out after %.1fs", name, check_timeout)
            return name, TIMEOUT
        except Exception as exc:
            logger.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            return name, f"failed: {type(exc).__name__}"
        return name, OK

    results = await asyncio.gather(*(one(name, check) for name, check in checks.items()))
    return dict(results)


def health_router(
    readiness: Mapping[str, ReadinessCheck], *, check_timeout: float = DEFAULT_CHECK_TIMEOUT
) -> APIRouter:
    """``GET /health/live`` and ``GET /health/ready`` (no auth) running ``readiness``."""
    router = APIRouter(prefix="/health", tags=["operations"])
    checks = dict(readiness)

    @router.get("/live", summary="Liveness: the process answers HTTP")
    async def live() -> Response:
        """Liveness: the process answers HTTP."""
        return JSONBody({"status": "ok"})

    @router.get("/ready", summary="Readiness: every dependency answers")
    async def ready(request: Request) -> Response:
        """Readiness: every dependency answers within its timeout."""
        results = await run_checks(request.app, checks, check_timeout)
        failed = sorted(name for name, outcome in results.items() if outcome != OK)
        if not failed:
            return JSONBody({"status": "ready", "checks": results})
        return problem_response(
            status=DependencyUnavailable.status,
            title="Not ready",
            slug="not-ready",
            detail=f"Not ready: {', '.join(failed)}.",
            instance=request.url.path,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            extra={"checks": results, "failed": failed},
        )

    return router


def postgres_check(get_pool: Callable[[FastAPI], SupportsFetchval]) -> ReadinessCheck:
    """A check running ``select 1`` on the pool ``get_pool(app)`` returns (e.g. ``app.state.pool``).

    A pool that does not exist yet (start-up not finished) fails the check instead of crashing it.
    """

    async def check(app: FastAPI) -> None:
        pool = get_pool(app)
        if await pool.fetchval("select 1") != 1:
            raise RuntimeError("select 1 did not return 1")

    return check


class KafkaCheck:
    """A readiness check asking the Kafka cluster to describe itself.

    kafka-python blocks, so every call runs in a worker thread, never on the event loop. The admin
    client is created on first use and kept (a new TCP connection and bootstrap per probe would be
    wasteful); after a failure it is dropped and rebuilt next time. One call at a time: a probe that
    arrives while a slow one still holds the client fails fast rather than piling up threads.
    """

    def __init__(self, bootstrap_servers: str, *, timeout: float = DEFAULT_CHECK_TIMEOUT) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout_ms = max(int(timeout * 1000), 100)
        self._client: Any = None
        self._lock = threading.Lock()

    async def __call__(self, app: FastAPI) -> None:
        """Succeed when the cluster names at least one broker."""
        await asyncio.get_running_loop().run_in_executor(None, self._describe)

    def close(self) -> None:
        """Close the cached admin client (blocking; call from a thread or at shutdown)."""
        with self._lock:
            self._drop_client()

    def _describe(self) -> None:
        if not self._lock.acquire(blocking=False):
            raise TimeoutError("a previous Kafka check is still running")
        try:
            if self._client is None:
                self._client = self._new_client()
            try:
                cluster = self._client.describe_cluster()
            except Exception:
                self._drop_client()
                raise
            if not cluster.get("brokers"):
                raise RuntimeError("the Kafka cluster reports no brokers")
        finally:
            self._lock.release()

    def _new_client(self) -> Any:
        from kafka import KafkaAdminClient

        # Only keys kafka-python 3.x knows: it rejects unknown ones (api_version_auto_timeout_ms).
        return KafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            client_id="c360-readiness",
            request_timeout_ms=self.timeout_ms,
            bootstrap_timeout_ms=self.timeout_ms,
        )

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                logger.debug("closing the Kafka admin client failed", exc_info=True)


def kafka_check(bootstrap_servers: str, *, timeout: float = DEFAULT_CHECK_TIMEOUT) -> KafkaCheck:
    """A readiness check for the Kafka cluster at ``bootstrap_servers`` (see ``KafkaCheck``)."""
    return KafkaCheck(bootstrap_servers, timeout=timeout)
