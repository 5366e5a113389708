"""How a long-running process (an outbox relay, a background worker) runs until it is told to stop.

Both ``c360 relay``/``c360 worker`` and ``python -m shared.outbox.relay`` start their loop here, so the
allocator, garbage-collector and event-loop settings of every such process are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable

from shared.ops.allocator import return_large_buffers_to_the_system
from shared.ops.gctuning import tune_for_long_running_process


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` on uvloop; SIGTERM/SIGINT set ``stop`` for a clean shutdown."""
    return_large_buffers_to_the_system()  # relays and workers churn Kafka buffers: see shared/ops/allocator.py
    tune_for_long_running_process()  # start-up is done: freeze it, collect young objects rarely
    try:
        # uvloop is optional (a platform without it runs on asyncio's own loop).
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())
