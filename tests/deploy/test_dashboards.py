"""Dashboards and alerts query metrics our processes export (or ones requested from the services)."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from prometheus_client import generate_latest

from shared.ops.metrics import create_registry, platform_metrics
from shared.ops.service import SERVICE_NAMES, load_service
from shared.web.metrics import http_metrics
from tests.deploy.conftest import REPO, Rendered

DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
KAFKA_EXPORTER = {"kafka_topic_partition_current_offset", "kafka_consumergroup_lag"}
PROMETHEUS = {"up"}
REQUESTED: set[str] = set()
# Metrics a dashboard may query before a service exports them (docs/runbook.md lists them); none now.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_METRIC = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[|\))")
_FUNCTIONS = {"rate", "increase", "sum", "max", "min", "avg", "deriv", "histogram_quantile", "count", "offset"}


def exported_metrics() -> set[str]:
    registries = []
    for service in SERVICE_NAMES:
        definition = load_service(service)
        registries.append(definition.app_factory(definition.settings_factory()).state.metrics_registry)
    registry = create_registry()
    http_metrics(registry)
    platform_metrics(registry)
    registries.append(registry)
    names = set()
    for reg in registries:
        for line in generate_latest(reg).decode().splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                names.add(name)
                if kind == "histogram":
                    names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def metrics_in(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label values and grouping labels are not names)."""
    bare = _GROUPING.sub("", _STRINGS.sub('""', expr))
    return {m for m in _METRIC.findall(bare) if m not in _FUNCTIONS}


def dashboard_queries() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        dashboard: dict[str, Any] = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            found += [(f"{path.name}: {panel['title']}", t["expr"]) for t in panel.get("targets", [])]
    return found


def alert_queries() -> list[tuple[str, str]]:
    rules = yaml.safe_load((REPO / "deploy" / "prometheus" / "rules" / "c360-alerts.yml").read_text())
    return [(r["alert"], r["expr"]) for g in rules["groups"] for r in g["rules"]]


def test_dashboards_are_provisionable() -> None:
    assert {p.name for p in DASHBOARDS} == {"c360-platform-health.json", "c360-business.json"}
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)


def test_every_queried_metric_is_exported_or_requested() -> None:
    known = exported_metrics() | KAFKA_EXPORTER | PROMETHEUS | REQUESTED
    unknown = [
        (where, m) for where, expr in dashboard_queries() + alert_queries() for m in metrics_in(expr) if m not in known
    ]
    assert not unknown, unknown


def test_the_platform_dashboard_covers_what_sres_watch() -> None:
    text = " ".join(expr for _, expr in dashboard_queries())
    for metric in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "events_appended_total",
        "outbox_backlog",
        "outbox_oldest_age_seconds",
        "consumer_lag",
        "kafka_topic_partition_current_offset",
        "tickets_opened_total",
        "analytics_nps",
        "analytics_customers_by_churn_band",
        "campaign_messages_sent_total",
    ):
        assert metric in text, metric


def test_the_business_metrics_are_documented_and_exported() -> None:
    runbook = (REPO / "docs" / "runbook.md").read_text()
    section = runbook.split("### Business metrics", 1)[1].split("\n## ", 1)[0]
    business = {"analytics_nps", "analytics_customers_by_churn_band", "campaign_messages_sent_total"}
    assert [m for m in sorted(business) if f"`{m}" not in section] == []
    assert business <= exported_metrics()


def test_relay_and_worker_panels_and_alerts_use_the_process_metrics() -> None:
    text = " ".join(expr for _, expr in dashboard_queries() + alert_queries())
    for metric in ("relay_errors_total", "relay_published_total", "events_applied_total"):
        assert metric in text, metric
    assert "relay_errors_total" in dict(alert_queries())["C360RelayErrors"]
    assert 'c360_component=~"relay|worker"' in dict(alert_queries())["C360ProcessDown"]


def panels(name: str) -> dict[str, list[str]]:
    """Panel title -> its queries, of one dashboard."""
    dashboard: dict[str, Any] = json.loads((REPO / "deploy" / "grafana" / "dashboards" / name).read_text())
    return {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in dashboard["panels"] if p["type"] != "row"}


def test_the_platform_dashboard_shows_lag_per_group_and_partition_and_the_dead_letter_topics() -> None:
    platform = panels("c360-platform-health.json")
    lag = [e for exprs in platform.values() for e in exprs if "consumer_lag" in e]
    assert any(re.search(r"by \(group, topic, partition\) \(consumer_lag\)", e) and not e.startswith("sum")
               for e in lag), lag
    assert any(e.startswith("sum by (group)") for e in lag), "and summed per group"
    dlq = [e for exprs in platform.values() for e in exprs if ".dlq" in e]
    assert dlq and all("kafka_topic_partition_current_offset" in e for e in dlq)
    for title in ("Requests per second by route", "p95 latency by route", "Outbox backlog (rows not yet on Kafka)",
                  "Events appended per second by type"):
        assert title in platform, title


def test_the_business_dashboard_shows_nps_churn_complaints_and_campaign_sends() -> None:
    business = " ".join(e for exprs in panels("c360-business.json").values() for e in exprs)
    for needle in ("analytics_nps", "analytics_customers_by_churn_band", 'tickets_opened_total{kind="complaint"}',
                   "campaign_messages_sent_total"):
        assert needle in business, needle


def test_kafka_exporter_metrics_are_scraped_in_compose_and_in_prod(rendered: Rendered) -> None:
    used = {m for _, expr in dashboard_queries() + alert_queries() for m in metrics_in(expr)} & KAFKA_EXPORTER
    assert used, "the dead-letter panel and alert read the exporter"
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert "kafka-exporter" in {job["job_name"] for job in config["scrape_configs"]}
    prod = {d["metadata"]["name"]: d for d in rendered["prod"] if d["kind"] == "PodMonitor"}
    exporter = prod["c360-kafka-exporter"]["spec"]
    kafka = next(d for d in rendered["prod"] if d["kind"] == "Kafka")
    assert "kafkaExporter" in kafka["spec"], "Strimzi runs the exporter the PodMonitor scrapes"
    assert exporter["selector"]["matchLabels"]["strimzi.io/name"] == f"{kafka['metadata']['name']}-kafka-exporter"
