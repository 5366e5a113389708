"""A small evaluator of Kubernetes NetworkPolicies, enough to ask "may A reach B on port P?".

It follows the API's semantics for what our manifests use: a pod selected by any policy of a type
(Ingress / Egress) is isolated for that direction and accepts only what some rule of those policies
allows; a peer with only ``podSelector`` means pods of the policy's own namespace, one with only
``namespaceSelector`` every pod of the matching namespaces, both together their intersection; a rule
without ``from``/``to`` or ``ports`` allows every peer or port; a named port is resolved against the
destination pod's container ports. Namespaces carry the automatic ``kubernetes.io/metadata.name`` label.
Traffic needs both the source's egress and the destination's ingress to allow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Pod:
    """A pod as the policies see it: where it runs, its labels and its named container ports."""

    namespace: str
    labels: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    in_scope: bool = True
    """False for pods outside the rendered manifests (Prometheus, the ingress controller): their own
    namespace's policies are not ours to check, so their egress counts as allowed."""


def outside(namespace: str) -> Pod:
    """Some pod of another namespace (``monitoring``, ``ingress-nginx``)."""
    return Pod(namespace=namespace, in_scope=False)


def pods_of(docs: list[dict[str, Any]], namespace: str) -> dict[str, Pod]:
    """Deployment name -> the Pod its template creates."""
    found = {}
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        template = doc["spec"]["template"]
        ports = {
            p["name"]: p["containerPort"]
            for c in template["spec"]["containers"]
            for p in c.get("ports", [])
            if "name" in p
        }
        found[doc["metadata"]["name"]] = Pod(namespace, dict(template["metadata"]["labels"]), ports)
    return found


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a label selector matches ``labels`` (an empty selector matches everything)."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if (
            (op == "In" and (not present or labels[key] not in values))
            or (op == "NotIn" and present and labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def _peer_matches(peer: dict[str, Any], policy_namespace: str, pod: Pod) -> bool:
    if "ipBlock" in peer:
        return False  # our policies do not use CIDRs for pods
    namespace_labels = {"kubernetes.io/metadata.name": pod.namespace}
    if "namespaceSelector" in peer and not selects(peer["namespaceSelector"], namespace_labels):
        return False
    if "namespaceSelector" not in peer and pod.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or (pod.in_scope and selects(peer["podSelector"], pod.labels))


def _port_matches(rule_ports: list[dict[str, Any]] | None, destination: Pod, port: int) -> bool:
    if not rule_ports:
        return True
    for entry in rule_ports:
        if entry.get("protocol", "TCP") != "TCP":
            continue
        wanted = entry.get("port")
        if wanted is None or wanted == port or (isinstance(wanted, str) and destination.ports.get(wanted) == port):
            return True
    return False


def _allowed(
    policies: list[dict[str, Any]], subject: Pod, peer: Pod, destination: Pod, port: int, direction: str
) -> bool:
    kind, rules_key, peers_key = (
        ("Ingress", "ingress", "from") if direction == "ingress" else ("Egress", "egress", "to")
    )
    isolating = [
        p
        for p in policies
        if kind in p["spec"].get("policyTypes", ["Ingress"]) and selects(p["spec"]["podSelector"], subject.labels)
    ]
    if not isolating:
        return True
    for policy in isolating:
        namespace = policy["metadata"].get("namespace", subject.namespace)
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(p, namespace, peer) for p in peers)) and _port_matches(
                rule.get("ports"), destination, port
            ):
                return True
    return False


def may_connect(docs: list[dict[str, Any]], source: Pod, destination: Pod, port: int) -> bool:
    """Whether ``source`` may open a TCP connection to ``destination`` on ``port``."""
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    egress_ok = not source.in_scope or _allowed(policies, source, destination, destination, port, "egress")
    return egress_ok and _allowed(policies, destination, source, destination, port, "ingress")
