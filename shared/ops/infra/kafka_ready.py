"""Wait until a Kafka broker answers a metadata request.

Run: ``python -m shared.ops.infra.kafka_ready --bootstrap 127.0.0.1:9092 --timeout 60``.
An open port is not enough: a KRaft broker listens before its metadata log is loaded, so we wait
until the cluster describes itself with at least one broker.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time


def broker_answers(bootstrap: str) -> bool:
    """True when the cluster at ``bootstrap`` returns metadata naming at least one broker."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=3000
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        cluster = admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def wait_for_broker(bootstrap: str, timeout: float, pid_file: str | None = None) -> bool:
    """Poll until the broker answers, the timeout passes, or the watched process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_file and not _alive(pid_file):
            return False
        if broker_answers(bootstrap):
            return True
        time.sleep(0.5)
    return False


def _alive(pid_file: str) -> bool:
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--pid-file", help="give up early when this process dies")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    sys.exit(0 if wait_for_broker(args.bootstrap, args.timeout, args.pid_file) else 1)


if __name__ == "__main__":
    main()
