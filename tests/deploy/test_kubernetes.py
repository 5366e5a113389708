"""deploy/k8s: every overlay, rendered by a real kustomize, is valid Kubernetes (and Strimzi, CNPG,
Prometheus Operator, External Secrets) and carries the platform's operational defaults."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import KUBERNETES_VERSION, OVERLAYS, REPO, Rendered, Tools
from tests.deploy.netpol import may_connect, outside, pods_of, selects

CORE_GROUPS = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}


@cache
def crd_schemas(crd_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema, from every CRD file install.sh placed in ``crd_dir``."""
    schemas = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def strict(schema: Any) -> Any:
    """The openAPIV3Schema as the API server's strict field validation applies it.

    An object with declared ``properties`` refuses any other field (the server would prune it silently,
    which hides a typo) unless it says ``x-kubernetes-preserve-unknown-fields``; the x-kubernetes-* hints
    themselves are dropped because jsonschema does not know them.
    """
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_resource_is_valid(tools: Tools, rendered: Rendered, overlay: str) -> None:
    import kubernetes_validate  # installed by the tools fixture
    from jsonschema import Draft202012Validator

    crds = crd_schemas(tools.crds)
    problems = []
    for doc in rendered[overlay]:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"] in CORE_GROUPS:
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{where}: {exc.message} at {'/'.join(map(str, exc.path))}")
            continue
        schema = crds.get((doc["apiVersion"], doc["kind"]))
        assert schema is not None, f"{where}: no schema for {doc['apiVersion']} {doc['kind']}"
        body = {k: v for k, v in doc.items() if k != "status"}
        for error in Draft202012Validator(strict(schema)).iter_errors(body):
            problems.append(f"{where}: {error.message} at {'/'.join(map(str, error.absolute_path))}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_has_a_deployment_running_its_command(
    rendered: Rendered, processes: dict[str, list[str]], overlay: str
) -> None:
    deployments = by_kind(rendered[overlay], "Deployment")
    assert set(deployments) == set(processes)
    for name, args in processes.items():
        assert deployments[name]["spec"]["template"]["spec"]["containers"][0]["args"] == args


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_hardened(rendered: Rendered, overlay: str) -> None:
    pods = [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in rendered[overlay]
        if d["kind"] in ("Deployment", "Job")
    ]
    assert pods
    for name, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert {"name": "tmp", "emptyDir": pod["volumes"][0]["emptyDir"]} == pod["volumes"][0], name
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_apis_have_probes_services_autoscalers_and_budgets(
    rendered: Rendered, processes: dict[str, list[str]], overlay: str
) -> None:
    docs = rendered[overlay]
    deployments, services = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    hpas, pdbs = by_kind(docs, "HorizontalPodAutoscaler"), by_kind(docs, "PodDisruptionBudget")
    for name, args in processes.items():
        assert name in pdbs, f"{name} has no PodDisruptionBudget"
        if args[0] != "api":
            continue
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert name in services
        metrics = {m["type"]: m for m in hpas[name]["spec"]["metrics"]}
        assert metrics["Resource"]["resource"]["name"] == "cpu"
        assert metrics["Pods"]["pods"]["metric"]["name"] == "http_requests_per_second"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default(rendered: Rendered, overlay: str) -> None:
    deny = by_kind(rendered[overlay], "NetworkPolicy")["c360-default-deny"]
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_value_is_committed_outside_dev(rendered: Rendered, overlay: str) -> None:
    secrets = by_kind(rendered[overlay], "Secret")
    if overlay == "dev":
        assert list(secrets) and all(name.startswith("c360-secrets") for name in secrets)
    else:
        assert not secrets
        assert "c360-secrets" in by_kind(rendered[overlay], "ExternalSecret")


def test_prod_runs_strimzi_kraft_with_three_brokers_and_min_insync_two(rendered: Rendered) -> None:
    docs = rendered["prod"]
    kafka = by_kind(docs, "Kafka")["c360"]
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert kafka["spec"]["kafka"]["version"].startswith("3.9.")
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    assert "zookeeper" not in kafka["spec"]
    pools = by_kind(docs, "KafkaNodePool").values()
    assert sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"]) == 3


def test_prod_declares_every_platform_topic(rendered: Rendered) -> None:
    from shared.settings import PlatformSettings
    from shared.topics import DLQ_SUFFIX, platform_topics

    expected = platform_topics(PlatformSettings(kafka_replication_factor=3, kafka_min_insync_replicas=2))
    topics = {t["spec"]["topicName"]: t["spec"] for t in by_kind(rendered["prod"], "KafkaTopic").values()}
    assert set(topics) == {spec.name for spec in expected}
    for spec in expected:
        declared = topics[spec.name]
        assert declared["partitions"] == spec.partitions and declared["replicas"] == 3
        for key, value in spec.config.items():
            assert str(declared["config"][key]) == value, f"{spec.name}: {key}"
        assert (declared["config"]["retention.ms"] == -1) != spec.name.endswith(DLQ_SUFFIX)


def test_prometheus_rule_matches_the_compose_rule_file(rendered: Rendered) -> None:
    rule_file = yaml.safe_load((REPO / "deploy" / "prometheus" / "rules" / "c360-alerts.yml").read_text())
    rule = by_kind(rendered["prod"], "PrometheusRule")["c360-alerts"]
    assert rule["spec"] == rule_file
    alerts = {r["alert"] for g in rule_file["groups"] for r in g["rules"]}
    for required in (
        "C360ConsumerLagHigh",
        "C360OutboxBacklogAge",
        "C360RelayErrors",
        "C360DeadLetterGrowth",
        "C360Http5xxRate",
        "C360SlaBreachSurge",
    ):
        assert required in alerts


def relays_and_workers(processes: dict[str, list[str]]) -> list[str]:
    return [name for name, args in processes.items() if args[0] != "api"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_relays_and_workers_serve_metrics_on_a_named_port_the_pod_monitor_scrapes(
    rendered: Rendered, processes: dict[str, list[str]], overlay: str
) -> None:
    docs = rendered[overlay]
    deployments = by_kind(docs, "Deployment")
    monitor = by_kind(docs, "PodMonitor")["c360-relays-and-workers"]["spec"]
    assert [e["port"] for e in monitor["podMetricsEndpoints"]] == ["metrics"]
    assert all(e["path"] == "/metrics" for e in monitor["podMetricsEndpoints"])
    scraped = []
    for name in relays_and_workers(processes):
        pod = deployments[name]["spec"]["template"]
        container = pod["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        assert env.get("METRICS_PORT") and int(env["METRICS_PORT"]) == ports.get("metrics"), name
        if selects(monitor["selector"], pod["metadata"]["labels"]):
            scraped.append(name)
        assert pod["metadata"]["labels"].get(monitor["jobLabel"]) == name, name
    assert scraped == relays_and_workers(processes)
    apis = [d for n, d in deployments.items() if processes[n][0] == "api"]
    assert not any(selects(monitor["selector"], d["spec"]["template"]["metadata"]["labels"]) for d in apis)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_through_exactly_the_traffic_the_platform_needs(
    rendered: Rendered, processes: dict[str, list[str]], overlay: str
) -> None:
    docs = rendered[overlay]
    namespace = next(d["metadata"]["name"] for d in docs if d["kind"] == "Namespace")
    pods = pods_of(docs, namespace)
    prometheus, ingress = outside("monitoring"), outside("ingress-nginx")
    apis = {name: pods[name].ports["http"] for name, args in processes.items() if args[0] == "api"}
    for api, port in apis.items():
        assert may_connect(docs, prometheus, pods[api], port), f"Prometheus cannot scrape {api}"
        assert may_connect(docs, ingress, pods[api], port), f"the ingress controller cannot reach {api}"
        for caller in ("analytics-api", "analytics-projector"):  # console proxy; data keys
            assert may_connect(docs, pods[caller], pods[api], port), f"{caller} cannot call {api}"
    for name in relays_and_workers(processes):
        metrics_port = pods[name].ports["metrics"]
        assert may_connect(docs, prometheus, pods[name], metrics_port), f"Prometheus cannot scrape {name}"
        assert not may_connect(docs, ingress, pods[name], metrics_port), f"{name} is reachable from the ingress"
        assert not may_connect(docs, pods["analytics-api"], pods[name], metrics_port), name
    # The campaigns engine reads birthdays: it fetches data keys from the customer API, and only there.
    assert may_connect(docs, pods["campaigns-engine"], pods["customer-api"], apis["customer-api"])
    assert not may_connect(docs, pods["campaigns-engine"], pods["ticketing-api"], apis["ticketing-api"])
    assert not may_connect(docs, pods["customer-relay"], pods["customer-api"], apis["customer-api"])
    assert not may_connect(docs, outside("default"), pods["customer-api"], apis["customer-api"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_keep_faust_state_on_the_writable_volume_and_service_token_is_optional(
    rendered: Rendered, processes: dict[str, list[str]], overlay: str
) -> None:
    docs = rendered[overlay]
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("c360-config"))
    assert config["data"]["FAUST_DATADIR"].startswith("/tmp/")
    for name, deployment in by_kind(docs, "Deployment").items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        token = next(e for e in container["env"] if e["name"] == "SERVICE_TOKEN")["valueFrom"]["secretKeyRef"]
        assert token["optional"] is True and token["name"].startswith("c360-secrets"), name
