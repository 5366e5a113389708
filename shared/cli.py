"""``c360``: the platform's command line.

    c360 api customer                 serve a service's HTTP API (uvicorn)
    c360 relay customer               publish a service's outbox to Kafka
    c360 worker analytics projector   run a named background worker (consumer, scheduler)
    c360 migrate all                  apply database migrations (platform tables + each service's)
    c360 topics                       create every Kafka topic (idempotent)
    c360 token --scope admin          mint a bearer token for local use and tests
    c360 dlq show customer.events     inspect a dead-letter topic; 'replay' republishes after a fix
    c360 processes                    list the processes ``make up`` starts
    c360 import FILE... | -           bulk import an enterprise's history (docs/import.md)

Every command reads the same environment variables as the services (see README, Configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from shared.consuming.dlq import read_dead_letters, replay
from shared.importing.cli import add_parser as add_import_parser
from shared.ops.gctuning import tune_for_long_running_process
from shared.ops.heartbeat import beat_while_running, process_heartbeat
from shared.ops.logging import configure_logging
from shared.ops.observability import process_metrics, serve_process_metrics
from shared.ops.process import run_until_signalled
from shared.ops.service import SERVICE_NAMES, ServiceDefinition, load_service
from shared.outbox.relay import OutboxRelay
from shared.outbox.topics import ensure_topics, platform_topics
from shared.settings import PlatformSettings
from shared.store.migrations import migrate_service
from shared.web.auth import mint_token

log = logging.getLogger("c360")


def _available_services() -> list[ServiceDefinition[Any]]:
    found = []
    for name in SERVICE_NAMES:
        try:
            found.append(load_service(name))
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"services.{name}"):
                continue  # a service that has no bootstrap yet
            raise
    return found


def _serve_metrics_if_asked() -> None:
    """Relays and workers have no HTTP API; ``METRICS_PORT`` gives them ``/metrics`` and ``/health/live``."""
    port = int(os.environ.get("METRICS_PORT", "0") or 0)
    if port:
        serve_process_metrics(port, process_heartbeat())


def cmd_api(args: argparse.Namespace) -> None:
    import uvicorn

    service = load_service(args.service)
    settings = service.settings_factory()
    configure_logging(service.name, settings.log_level, settings.log_format)
    app = service.app_factory(settings)
    tune_for_long_running_process()  # see shared/ops/gctuning.py
    uvicorn.run(
        app,
        host=args.host or settings.http_host,
        port=args.port or settings.http_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


def cmd_relay(args: argparse.Namespace) -> None:
    service = load_service(args.service)
    settings = service.settings_factory()
    configure_logging(f"{service.name}-relay", settings.log_level, settings.log_format)
    _serve_metrics_if_asked()
    relay = OutboxRelay(dsn=settings.database_url, bootstrap_servers=settings.kafka_bootstrap_servers,
                        name=f"{service.name}-relay", batch_size=args.batch_size, metrics=process_metrics(),
                        heartbeat=process_heartbeat())
    log.info("relay starting", extra={"service": service.name})
    run_until_signalled(relay.run)


def cmd_worker(args: argparse.Namespace) -> None:
    service = load_service(args.service)
    if args.name not in service.workers:
        sys.exit(f"{service.name} has no worker {args.name!r}; it has: {', '.join(service.workers) or 'none'}")
    settings = service.settings_factory()
    configure_logging(f"{service.name}-{args.name}", settings.log_level, settings.log_format)
    task = service.workers[args.name]
    _serve_metrics_if_asked()

    async def work_and_beat(stop: asyncio.Event) -> None:
        # A worker's loops belong to Faust or to a scheduler; the event loop beating shows none blocks it.
        beats = asyncio.create_task(beat_while_running(process_heartbeat(), stop))
        try:
            await task(settings, stop)
        finally:
            beats.cancel()

    run_until_signalled(work_and_beat)


def cmd_migrate(args: argparse.Namespace) -> None:
    services = _available_services() if args.service == "all" else [load_service(args.service)]
    configure_logging("migrate", "INFO", "console")

    async def run() -> None:
        for service in services:
            settings = service.settings_factory()
            applied = await migrate_service(settings.database_url, service.migration_sets())
            detail = f" ({', '.join(applied)})" if applied else ""
            print(f"{service.name}: {len(applied)} migration(s) applied{detail}")

    asyncio.run(run())


def cmd_topics(args: argparse.Namespace) -> None:
    overrides = {"kafka_topic_partitions": args.partitions} if args.partitions else {}
    settings = PlatformSettings(**overrides)
    created = ensure_topics(settings.kafka_bootstrap_servers, platform_topics(settings))
    print(f"topics: {len(created)} created" + (f" ({', '.join(created)})" if created else ", all present"))


def cmd_token(args: argparse.Namespace) -> None:
    settings = PlatformSettings()
    scopes = args.scope or ["admin"]
    print(mint_token(settings, args.sub, scopes, customer_id=args.customer_id, ttl_seconds=args.ttl))


def cmd_dlq(args: argparse.Namespace) -> None:
    settings = PlatformSettings()
    topic = settings.topic(args.topic if args.topic.endswith(".dlq") else f"{args.topic}.dlq")
    if args.action == "show":
        shown = 0
        for letter in read_dead_letters(settings.kafka_bootstrap_servers, topic):
            print(f"{letter.partition}:{letter.offset}\t{letter.reason}\t{letter.header('ce_type') or '-'}\t"
                  f"{letter.header('dlq_detail')[:120]}")
            shown += 1
            if shown >= args.limit:
                break
        print(f"{shown} dead letter(s) shown from {topic}")
    else:
        done, skipped = replay(settings.kafka_bootstrap_servers, topic, reason=args.reason, dry_run=args.dry_run,
                               from_beginning=args.from_beginning)
        verb = "would replay" if args.dry_run else "replayed"
        print(f"{verb} {done} record(s) from {topic}; {skipped} skipped")


def cmd_rebuild(args: argparse.Namespace) -> None:
    # Found by name, like load_service: the platform runs a service's entry points, it never imports a service.
    rebuild = importlib.import_module(f"services.{args.projection}.rebuild")
    rebuild.main(args.options)


def cmd_processes(args: argparse.Namespace) -> None:
    for service in _available_services():
        print(f"{service.name}-api\tc360 api {service.name}")
        if service.produces:
            print(f"{service.name}-relay\tc360 relay {service.name}")
        for worker in service.workers:
            print(f"{service.name}-{worker}\tc360 worker {service.name} {worker}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="c360", description="Customer 360 platform command line.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("api", help="serve a service's HTTP API")
    p.add_argument("service", choices=SERVICE_NAMES)
    p.add_argument("--host", help="bind address (default: the service's HTTP_HOST setting)")
    p.add_argument("--port", type=int, help="port (default: the service's standard port)")
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("relay", help="publish a service's outbox to Kafka")
    p.add_argument("service", choices=SERVICE_NAMES)
    p.add_argument("--batch-size", type=int, default=5000, help="outbox rows per Kafka batch (default 5000)")
    p.set_defaults(func=cmd_relay)

    p = sub.add_parser("worker", help="run a named background worker of a service")
    p.add_argument("service", choices=SERVICE_NAMES)
    p.add_argument("name", help="the worker's name (see 'c360 processes')")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument("service", choices=[*SERVICE_NAMES, "all"])
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("topics", help="create every Kafka topic (idempotent)")
    p.add_argument("--partitions", type=int, help="partitions for new topics (default KAFKA_TOPIC_PARTITIONS)")
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("token", help="mint a bearer token (HS256 with AUTH_JWT_SECRET)")
    p.add_argument("--sub", default="local-admin", help="subject (default local-admin)")
    p.add_argument("--scope", action="append", help="a scope; repeat for several (default admin)")
    p.add_argument("--customer-id", help="for self-service tokens (scope 'self')")
    p.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds (default 12 h)")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("dlq", help="inspect or replay a dead-letter topic")
    p.add_argument("action", choices=["show", "replay"])
    p.add_argument("topic", help="the topic or its .dlq (e.g. customer.events)")
    p.add_argument("--reason", help="replay only records dead-lettered for this reason")
    p.add_argument("--limit", type=int, default=50, help="records to show (default 50)")
    p.add_argument("--dry-run", action="store_true", help="count what would be replayed")
    p.add_argument("--from-beginning", action="store_true", help="replay everything, not only what is new")
    p.set_defaults(func=cmd_dlq)

    p = sub.add_parser("rebuild", help="rebuild a projection's read models from the topics, then swap them in")
    p.add_argument("projection", choices=["analytics"], help="the projection (analytics: the 360 and its KPIs)")
    p.add_argument("options", nargs=argparse.REMAINDER,
                   help="passed on (--no-swap, --method set|replay, --workers N, --batch N)")
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("processes", help="list the processes 'make up' starts")
    p.set_defaults(func=cmd_processes)

    add_import_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
