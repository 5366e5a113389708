"""The analytics app with the console mounted, for the end-to-end tests.

Run as ``python -m tests.e2e.console_app``. Once the analytics app mounts the console itself this
adds nothing (the router is only included when ``/console`` is not routed yet).
"""

from __future__ import annotations

from fastapi import FastAPI

from services.analytics.console import console_router


def create_app() -> FastAPI:
    """Analytics' own app, plus the console router when the app does not mount it yet."""
    from services.analytics.bootstrap import SERVICE

    app: FastAPI = SERVICE.app_factory(SERVICE.settings_factory())
    if not any(str(getattr(route, "path", "")).startswith("/console") for route in app.routes):
        app.include_router(console_router())
    return app


def main() -> None:
    import uvicorn

    from services.analytics.bootstrap import SERVICE
    from shared.logging import configure_logging

    settings = SERVICE.settings_factory()
    configure_logging("analytics", settings.log_level, settings.log_format)
    uvicorn.run(create_app(), host="127.0.0.1", port=settings.http_port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
