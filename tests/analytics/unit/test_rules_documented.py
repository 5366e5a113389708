"""Every configurable knob and every rule id is documented in docs/analytics-rules.md by its name."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from services.analytics.domain import formulas
from services.analytics.domain.rules import AnalyticsRules, ChurnWeights

DOC = (Path(__file__).parents[3] / "docs" / "analytics-rules.md").read_text()


def test_every_rule_setting_is_documented() -> None:
    missing = [name for name in AnalyticsRules.model_fields if f"`{name}`" not in DOC]
    assert missing == []


def test_every_churn_factor_is_documented_with_its_default_weight() -> None:
    for name, field in ChurnWeights.model_fields.items():
        assert re.search(rf"\| `{name}` \|.*\| {field.default} \|", DOC), name


def test_every_rule_id_the_formulas_can_answer_is_documented() -> None:
    source = inspect.getsource(formulas.lifecycle_stage) + inspect.getsource(formulas.segments)
    rule_ids = set(re.findall(r'"([a-z_]+\.[a-z_]+)"', source))
    assert len(rule_ids) >= 16
    assert sorted(rule for rule in rule_ids if f"`{rule}`" not in DOC) == []
