"""Every route of every service runs its endpoint and all its dependencies on the event loop.

FastAPI runs a plain ``def`` endpoint or dependency in a worker thread: a thread hop for each one on
each request. Three trivial ``def`` dependencies (the pool, the rules, the clock) cost 15% of the
analytics API's CPU on ``GET /v1/customers/{id}/360`` (py-spy, issue 17's reads), so none may come back.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from shared.ops.service import SERVICE_NAMES, load_service


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        included = getattr(route, "original_router", None)  # routers are included lazily
        if included is not None:
            yield from _routes(included.routes)
        else:
            yield route


def _runs_on_the_loop(call: Any) -> bool:
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def _threaded(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        if dependency.call is not None and not _runs_on_the_loop(dependency.call):
            yield f"{dependency.call.__module__}.{getattr(dependency.call, '__qualname__', dependency.call)}"
        yield from _threaded(dependency)


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_no_endpoint_or_dependency_runs_in_a_worker_thread(service: str) -> None:
    definition = load_service(service)
    app = definition.app_factory(definition.settings_factory())
    routes = [r for r in _routes(app.routes) if isinstance(r, APIRoute)]
    assert len(routes) > 5, "the walk must see the service's routes"
    threaded = {
        f"{route.path}: {name}"
        for route in routes
        for name in ([route.endpoint.__qualname__] if not _runs_on_the_loop(route.endpoint) else [])
        + list(_threaded(route.dependant))
    }
    assert not threaded, "make these async def: " + ", ".join(sorted(threaded))


def test_the_check_sees_a_plain_def_dependency() -> None:
    from fastapi import Depends, FastAPI

    def plain() -> int:
        return 1

    app = FastAPI()

    @app.get("/x")
    async def endpoint(value: int = Depends(plain)) -> int:
        return value

    route = next(r for r in app.routes if isinstance(r, APIRoute))
    assert list(_threaded(route.dependant)) == [f"{__name__}.{plain.__qualname__}"]
