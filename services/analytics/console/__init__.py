"""The operations console served by the analytics service at ``/console``.

Mount with ``app.include_router(console_router())`` (see ``router``'s docstring for settings).
"""

from services.analytics.console.router import ConsoleConfig, console_router

__all__ = ["ConsoleConfig", "console_router"]
