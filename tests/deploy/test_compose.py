"""docker-compose.yml: valid against the Compose Specification, and runs every process of the platform."""

from __future__ import annotations

import json
from typing import Any

import yaml

from shared.settings import SERVICE_PORTS
from tests.deploy.conftest import REPO, Tools
from tests.deploy.test_env import compose_env

INFRA = {"kafka", "postgres"}


def test_compose_file_follows_the_compose_specification(tools: Tools, compose: dict[str, Any]) -> None:
    from jsonschema.validators import validator_for  # installed by the tools fixture

    schema = json.loads(tools.compose_schema.read_text())
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_every_process_runs_in_compose_with_its_command(
    compose: dict[str, Any], processes: dict[str, list[str]]
) -> None:
    services = compose["services"]
    for name, args in processes.items():
        assert name in services, f"{name} (c360 {' '.join(args)}) is missing from docker-compose.yml"
        assert services[name]["command"] == args, f"{name} runs {services[name]['command']}, expected {args}"


def test_kafka_is_apache_kafka_3_9_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:3.9.")
    assert "broker,controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert "ZOOKEEPER" not in json.dumps(kafka).upper()


def test_init_job_creates_topics_and_migrates_after_the_infrastructure_is_healthy(compose: dict[str, Any]) -> None:
    init = compose["services"]["init"]
    assert init["command"] == ["c360 topics && c360 migrate all"]
    assert init["depends_on"] == {name: {"condition": "service_healthy"} for name in INFRA}


def test_every_process_waits_for_init_and_healthy_infrastructure(
    compose: dict[str, Any], processes: dict[str, list[str]]
) -> None:
    for name in processes:
        depends = compose["services"][name]["depends_on"]
        assert depends["init"] == {"condition": "service_completed_successfully"}, name
        for infra in INFRA:
            assert depends[infra] == {"condition": "service_healthy"}, name


def test_infrastructure_and_apis_have_healthchecks(compose: dict[str, Any], processes: dict[str, list[str]]) -> None:
    services = compose["services"]
    for name in [*INFRA, *(p for p, args in processes.items() if args[0] == "api")]:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_one_database_per_service_is_created(processes: dict[str, list[str]]) -> None:
    sql = (REPO / "deploy" / "compose" / "postgres" / "01-databases.sql").read_text()
    for service in {args[1] for args in processes.values()}:
        assert f"CREATE DATABASE {service};" in sql


def test_monitoring_profile_adds_prometheus_and_grafana_with_our_dashboards(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in services["grafana"]["volumes"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]


def test_prometheus_scrapes_every_process_where_it_serves_metrics(
    compose: dict[str, Any], processes: dict[str, list[str]]
) -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}
    for name, args in processes.items():
        env = compose_env(compose["services"][name])
        if args[0] == "api":
            port = SERVICE_PORTS[args[1]]
            assert compose["services"][name]["ports"] == [f"{port}:{port}"], name
        else:
            assert env.get("METRICS_PORT", "0") not in ("", "0"), f"{name} serves no metrics (METRICS_PORT)"
            port = int(env["METRICS_PORT"])
        assert name in jobs, f"Prometheus does not scrape {name}"
        assert [c["targets"] for c in jobs[name]] == [[f"{name}:{port}"]], name
        assert jobs[name][0]["labels"]["c360_service"] == args[1], name
        assert jobs[name][0]["labels"]["c360_component"] == args[0], name
    assert set(jobs) == set(processes) | {"kafka-exporter"}, "Prometheus scrapes something that does not run"


def test_the_kafka_exporter_of_the_monitoring_profile_reads_our_kafka_and_is_scraped(compose: dict[str, Any]) -> None:
    exporter = compose["services"]["kafka-exporter"]
    assert exporter["profiles"] == ["monitoring"]
    assert "--kafka.server=kafka:9092" in exporter["command"]
    assert exporter["depends_on"]["kafka"] == {"condition": "service_healthy"}
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}
    assert [c["targets"] for c in jobs["kafka-exporter"]] == [["kafka-exporter:9308"]]  # the exporter's port


def test_grafana_is_provisioned_with_prometheus_and_the_dashboards_directory_it_mounts(
    compose: dict[str, Any]
) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    providers = yaml.safe_load((provisioning / "dashboards" / "c360.yml").read_text())["providers"]
    paths = {provider["options"]["path"] for provider in providers}
    assert paths == {"/var/lib/grafana/dashboards"}
    assert mounts["/var/lib/grafana/dashboards"] == "./deploy/grafana/dashboards"
    assert sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json")), "no dashboard to provision"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    prometheus = compose["services"]["prometheus"]
    port = prometheus["ports"][0].rsplit(":", 1)[1]
    assert [(s["type"], s["url"], s.get("isDefault")) for s in sources] == [
        ("prometheus", f"http://prometheus:{port}", True)
    ]
    assert grafana["depends_on"]["prometheus"] == {"condition": "service_healthy"}
    rules = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())["rule_files"]
    assert rules == ["/etc/prometheus/rules/*.yml"] and (REPO / "deploy" / "prometheus" / "rules").is_dir()
