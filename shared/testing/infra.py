"""Where the tests find a real Kafka broker and a real PostgreSQL server.

Order of precedence, for each of the two:
1. environment variables (``KAFKA_BOOTSTRAP_SERVERS``; ``POSTGRES_DSN`` for an admin DSN),
2. testcontainers, when a Docker engine answers,
3. the infrastructure ``make up``/``make test`` provisioned locally (127.0.0.1:9092 and :5432).

There is no fourth option: when none answers, the run fails loudly. Tests never skip because a
broker or a database is missing, and nothing is mocked.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse, urlunparse

from shared.ops.infra.kafka_ready import wait_for_broker

LOCAL_KAFKA = "127.0.0.1:9092"
LOCAL_POSTGRES = "postgresql://c360:c360@127.0.0.1:5432/postgres"


class InfrastructureMissing(RuntimeError):
    """No real broker or database could be found; the test run must stop."""


@dataclass
class Infrastructure:
    kafka_bootstrap: str
    postgres_admin_dsn: str
    containers: list[Any]

    def stop(self) -> None:
        for container in self.containers:
            container.stop()


def _docker_answers() -> bool:
    if os.environ.get("C360_NO_DOCKER"):
        return False
    try:
        import docker  # testcontainers depends on it

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def discover() -> Infrastructure:
    """Find (or start, with testcontainers) the broker and the database."""
    containers: list[Any] = []
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    postgres = os.environ.get("POSTGRES_DSN")
    docker = None if (kafka and postgres) else _docker_answers()
    if not kafka:
        if docker:
            from testcontainers.kafka import KafkaContainer

            container = KafkaContainer("apache/kafka:3.9.1").with_kraft()
            container.start()
            containers.append(container)
            kafka = container.get_bootstrap_server()
        else:
            kafka = LOCAL_KAFKA
    if not postgres:
        if docker:
            from testcontainers.postgres import PostgresContainer

            pg = PostgresContainer("postgres:16", username="c360", password="c360", dbname="postgres")
            pg.start()
            containers.append(pg)
            postgres = pg.get_connection_url(driver=None)
        else:
            postgres = LOCAL_POSTGRES

    if not wait_for_broker(kafka, timeout=30):
        raise InfrastructureMissing(
            f"no Kafka broker answers at {kafka}. Start one with 'make infra-up' "
            "(or set KAFKA_BOOTSTRAP_SERVERS). Tests do not run without a real broker."
        )
    host, port = _pg_host_port(postgres)
    if not _port_open(host, port):
        raise InfrastructureMissing(
            f"no PostgreSQL server answers at {host}:{port}. Start one with 'make infra-up' "
            "(or set POSTGRES_DSN). Tests do not run without a real database."
        )
    return Infrastructure(kafka, postgres, containers)


def _pg_host_port(dsn: str) -> tuple[str, int]:
    parsed = urlparse(dsn)
    return parsed.hostname or "127.0.0.1", parsed.port or 5432


def dsn_with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    parsed = urlparse(dsn)
    return urlunparse(parsed._replace(path=f"/{database}"))
