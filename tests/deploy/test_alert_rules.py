"""deploy/prometheus/rules: Prometheus's own promtool accepts every rule file, and the unit tests in
deploy/prometheus/tests prove that each alert fires on the series it is about and stays silent on
healthy ones (an alert nobody has seen fire is an alert nobody knows works)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import REPO, Tools

RULES = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
RULE_TESTS = sorted((REPO / "deploy" / "prometheus" / "tests").glob("*.test.yml"))


def promtool(tools: Tools, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tools.promtool), *map(str, args)], capture_output=True, text=True, timeout=300)


def alerts_of(path: Path) -> set[str]:
    return {rule["alert"] for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule}


def test_there_are_rules_and_rule_tests() -> None:
    assert RULES and RULE_TESTS


@pytest.mark.parametrize("rules", RULES, ids=lambda p: p.name)
def test_promtool_accepts_the_rule_file(tools: Tools, rules: Path) -> None:
    result = promtool(tools, "check", "rules", rules)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_compose_prometheus_config(tools: Tools) -> None:
    result = promtool(tools, "check", "config", REPO / "deploy" / "prometheus" / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule_test", RULE_TESTS, ids=lambda p: p.name)
def test_the_alert_rules_pass_their_unit_tests(tools: Tools, rule_test: Path) -> None:
    result = promtool(tools, "test", "rules", rule_test)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_every_alert_is_seen_firing_and_seen_silent() -> None:
    """Each alert has a case with expected alerts and a case with none, so a rule that always or never
    fires fails its unit test."""
    firing: set[str] = set()
    silent: set[str] = set()
    tested_files: set[Path] = set()
    for rule_test in RULE_TESTS:
        spec = yaml.safe_load(rule_test.read_text())
        tested_files |= {(rule_test.parent / f).resolve() for f in spec["rule_files"]}
        for case in (c for test in spec["tests"] for c in test.get("alert_rule_test", [])):
            (firing if case["exp_alerts"] else silent).add(case["alertname"])
    assert {p.resolve() for p in RULES} <= tested_files, "a rule file has no unit tests"
    alerts = set().union(*(alerts_of(p) for p in RULES))
    assert alerts - firing == set(), "alerts never seen firing"
    assert alerts - silent == set(), "alerts never seen silent"


def test_promtool_notices_a_broken_alert(tools: Tools, tmp_path: Path) -> None:
    """The unit tests can fail: the same tests against a lag alert whose threshold is off by 10x."""
    rules = (REPO / "deploy" / "prometheus" / "rules" / "c360-alerts.yml").read_text()
    broken = rules.replace("(consumer_lag)) > 10000", "(consumer_lag)) > 100000")
    assert broken != rules
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "c360-alerts.yml").write_text(broken)
    (tmp_path / "tests").mkdir()
    for rule_test in RULE_TESTS:
        (tmp_path / "tests" / rule_test.name).write_text(rule_test.read_text())
    result = promtool(tools, "test", "rules", *sorted((tmp_path / "tests").glob("*.test.yml")))
    assert result.returncode != 0
    assert "C360ConsumerLagHigh" in result.stdout + result.stderr
