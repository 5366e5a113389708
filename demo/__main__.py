"""Fill the running platform with a realistic demo population through the services' HTTP APIs.

    python -m demo --customers 300 --months 6 --seed 42          load, then exit
    python -m demo --customers 300 --months 6 --seed 42 --live   load, then keep activity going

It never writes to a database: every customer, order, invoice, payment, ticket and survey answer
goes through the same API a real client uses, and the ready-made campaigns of the campaigns service
are created and activated first. History is replayed in simulated time (``X-Simulated-Time``, honoured
by services running with ``ENVIRONMENT`` local or test): the months end today, and every event is
stamped with the moment it happens in the plan. Re-running the same command is safe: creates carry
idempotency keys derived from the seed, so nothing is created twice. A re-run on a later day must
pass the first run's ``--as-of`` (printed when it finishes) to replay exactly the same requests.

``--live`` builds on a population an earlier run loaded (it finds the customers by email instead of
replaying their history), or loads it first, then keeps acting at the real time: customers redeem
offers the campaigns sent them, order, get parcels shipped and delivered, complain and answer NPS
surveys (``demo.runner.LIVE_MIX``), until Ctrl-C or SIGTERM.

The bearer token comes from ``--token`` or ``C360_TOKEN``; without either, an admin token is
minted with the platform's ``AUTH_JWT_SECRET`` (the local default works with ``make up``). Service
URLs come from ``CUSTOMER_API_URL``, ``TICKETING_API_URL``, ``CAMPAIGNS_API_URL`` (defaults
``http://127.0.0.1:8001`` ... ``8003``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from tqdm import tqdm

from demo.plan import build_plan
from demo.runner import DEFAULT_URLS, Api, DemoError, Loader, Progress, live


class _Bar(Progress):
    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def update(self, n: int = 1) -> None:
        self.bar.update(n)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=300, help="how many customers (default 300)")
    parser.add_argument("--months", type=int, default=6, help="simulated months of history (default 6)")
    parser.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same demo")
    parser.add_argument("--live", action="store_true", help="after loading, keep a gentle stream of activity")
    parser.add_argument("--live-interval", type=float, default=3.0, help="seconds between live actions (about)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent HTTP calls (default 16)")
    parser.add_argument("--token", default=os.environ.get("C360_TOKEN"), help="bearer token (default: mint one)")
    parser.add_argument("--as-of", type=_moment, default=None, metavar="RFC3339",
                        help="the simulated present the history ends at (default: now)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.months < 1 or args.concurrency < 1:
        parser.error("--customers, --months and --concurrency must be at least 1")
    return args


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def service_urls() -> dict[str, str]:
    """Base URLs of the services from ``<SERVICE>_API_URL`` (local defaults)."""
    return {name: os.environ.get(f"{name.upper()}_API_URL", url) for name, url in DEFAULT_URLS.items()}


def admin_token() -> str:
    """A 12-hour admin token signed with the platform's settings (the local run's secret)."""
    from shared.settings import PlatformSettings
    from shared.web.auth import mint_token

    return mint_token(PlatformSettings(), "demo-generator", ["admin"], ttl_seconds=12 * 3600)


async def run(args: argparse.Namespace) -> int:
    """Load the plan (and with ``--live`` keep going until interrupted)."""
    from services.campaigns.domain.ready_made import READY_MADE

    plan = build_plan(seed=args.seed, customers=args.customers, months=args.months, now=args.as_of)
    token = args.token or admin_token()
    started = time.monotonic()
    limits = httpx.Limits(max_connections=args.concurrency * 2, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        api = Api(client=client, urls=service_urls(), token=token, concurrency=args.concurrency)
        loader = Loader(api, plan)
        try:
            if args.live and await loader.already_loaded():
                found = await loader.attach()
                print(f"demo: {found} customers of an earlier load found; not replaying their history")
            else:
                bar = tqdm(total=loader.steps(READY_MADE), unit="step", desc="demo", disable=args.no_progress,
                           dynamic_ncols=True)
                loader.progress = _Bar(bar)
                try:
                    loaded = await loader.load(READY_MADE)
                finally:
                    bar.close()
                    loader.progress = Progress()
                print(f"demo: {len(loaded.customers)} customers, {len(loaded.orders)} orders, "
                      f"{len(loaded.tickets)} tickets, {len(loaded.campaigns)} campaigns active, from {plan.start} "
                      f"to {plan.now:%Y-%m-%d}, in {time.monotonic() - started:.0f}s "
                      f"(seed {args.seed}; --as-of {plan.now.isoformat().replace('+00:00', 'Z')} replays it exactly)")
        except DemoError as exc:
            print(f"demo: failed: {exc}", file=sys.stderr)
            return 1
        if args.live:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            print("demo: live mode; Ctrl-C stops it")
            actions = await live(loader, interval=args.live_interval, stop=stop, rng=random.Random(args.seed + 1))
            print(f"demo: live mode stopped after {actions} actions")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m demo``."""
    sys.exit(asyncio.run(run(parse_args(argv))))


if __name__ == "__main__":
    main()
