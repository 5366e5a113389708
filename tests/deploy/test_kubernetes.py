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
    from shared.outbox.topics import DLQ_SUFFIX, platform_topics
    from shared.settings import PlatformSettings

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


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_migration_job_migrates_every_database_with_the_platform_configuration(
    rendered: Rendered, overlay: str
) -> None:
    jobs = by_kind(rendered[overlay], "Job")
    migrate = jobs["c360-migrate"]["spec"]
    container = migrate["template"]["spec"]["containers"][0]
    assert container["args"] == ["migrate", "all"]
    assert migrate["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never") and migrate["backoffLimit"] >= 1
    sources = [next(iter(s.values()))["name"] for s in container["envFrom"]]
    assert any(n.startswith("c360-config") for n in sources) and any(n.startswith("c360-secrets") for n in sources)
    # Topics: a `c360 topics` Job in dev; in prod Strimzi owns them (KafkaTopic resources), so no Job.
    if overlay == "dev":
        assert jobs["c360-topics"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["topics"]
    else:
        assert set(jobs) == {"c360-migrate"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_api_service_is_scraped_by_the_service_monitor(
    rendered: Rendered, processes: dict[str, list[str]], overlay: str
) -> None:
    docs = rendered[overlay]
    monitor = by_kind(docs, "ServiceMonitor")["c360-apis"]["spec"]
    services = by_kind(docs, "Service")
    assert [(e["port"], e["path"]) for e in monitor["endpoints"]] == [("http", "/metrics")]
    for name, args in processes.items():
        if args[0] != "api":
            continue
        service = services[name]
        assert selects(monitor["selector"], service["metadata"]["labels"]), f"{name} is not scraped"
        assert "http" in {port["name"] for port in service["spec"]["ports"]}, name
        # The Service's selector reaches the API's pods.
        pod_labels = by_kind(docs, "Deployment")[name]["spec"]["template"]["metadata"]["labels"]
        assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels), name
    assert not any(selects(monitor["selector"], s["metadata"]["labels"]) for n, s in services.items()
                   if processes.get(n, ["relay"])[0] != "api")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_consumers_never_run_more_replicas_than_there_are_partitions(
    rendered: Rendered, processes: dict[str, list[str]], overlay: str
) -> None:
    docs = rendered[overlay]
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("c360-config"))
    partitions = int(config["data"]["KAFKA_TOPIC_PARTITIONS"])
    deployments = by_kind(docs, "Deployment")
    autoscaled = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(docs, "HorizontalPodAutoscaler").values()}
    assert autoscaled == {name for name, args in processes.items() if args[0] == "api"}, "only APIs autoscale"
    for name in relays_and_workers(processes):
        replicas = deployments[name]["spec"]["replicas"]
        assert 1 <= replicas <= partitions, f"{name}: {replicas} replicas for {partitions} partitions"
    if overlay == "prod":
        for name in relays_and_workers(processes):
            assert deployments[name]["spec"]["replicas"] >= 2, f"{name} has no standby in prod"
    for hpa in by_kind(docs, "HorizontalPodAutoscaler").values():
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_written_into_deployments_or_config_maps(
    rendered: Rendered, overlay: str
) -> None:
    from tests.deploy.envvars import names_read_anywhere

    docs = rendered[overlay]
    services = ["customer", "ticketing", "campaigns", "analytics"]
    secret_names = {"AUTH_JWT_SECRET", "POSTGRES_PASSWORD", "SERVICE_TOKEN"} | {
        f"{s.upper()}_DATABASE_URL" for s in services
    }
    assert secret_names <= names_read_anywhere(services), "these are names the services read"
    for config in (d for d in docs if d["kind"] == "ConfigMap"):
        assert not secret_names & set(config.get("data", {})), config["metadata"]["name"]
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            literal = {e["name"] for e in container.get("env", []) if "value" in e}
            assert not secret_names & literal, doc["metadata"]["name"]
            refs = [s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s]
            assert refs and all(r.startswith("c360-secrets") for r in refs), doc["metadata"]["name"]


def test_prod_postgresql_comes_from_cloudnativepg_with_one_database_per_service(rendered: Rendered) -> None:
    docs = rendered["prod"]
    cluster = next(d for d in docs if d["apiVersion"].startswith("postgresql.cnpg.io/") and d["kind"] == "Cluster")
    name, bootstrap = cluster["metadata"]["name"], cluster["spec"]["bootstrap"]["initdb"]
    assert cluster["spec"]["instances"] >= 3, "a primary and replicas to fail over to"
    created = {bootstrap["database"]} | {sql.split()[2] for sql in bootstrap.get("postInitSQL", [])
                                          if sql.upper().startswith("CREATE DATABASE")}
    services = {"customer", "ticketing", "campaigns", "analytics"}
    assert created == services
    secret = by_kind(docs, "ExternalSecret")["c360-secrets"]["spec"]["target"]["template"]["data"]
    for service in services:
        assert secret[f"{service.upper()}_DATABASE_URL"].endswith(f"@{name}-rw:5432/{service}"), service
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("c360-config"))
    assert config["data"]["POSTGRES_HOST"] == f"{name}-rw"
    runbook = (REPO / "docs" / "runbook.md").read_text()
    assert "CloudNativePG" in runbook and "PostgreSQL from another provider" in runbook


def test_prod_kafka_bootstrap_and_topics_belong_to_the_strimzi_cluster(rendered: Rendered) -> None:
    docs = rendered["prod"]
    kafka = by_kind(docs, "Kafka")["c360"]
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("c360-config"))
    plain = next(listener for listener in kafka["spec"]["kafka"]["listeners"] if not listener["tls"])
    assert config["data"]["KAFKA_BOOTSTRAP_SERVERS"] == f"c360-kafka-bootstrap:{plain['port']}"
    assert config["data"]["KAFKA_MIN_INSYNC_REPLICAS"] == "2" and config["data"]["KAFKA_REPLICATION_FACTOR"] == "3"
    for topic in by_kind(docs, "KafkaTopic").values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "c360", topic["metadata"]["name"]
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
    pools = by_kind(docs, "KafkaNodePool").values()
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == "c360" for p in pools)
    assert {"controller", "broker"} <= {role for p in pools for role in p["spec"]["roles"]}, "KRaft: no ZooKeeper"
    # Only the platform's pods may reach the brokers (Strimzi turns networkPolicyPeers into a NetworkPolicy).
    peers = plain["networkPolicyPeers"]
    assert peers == [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "customer360"}}}]
