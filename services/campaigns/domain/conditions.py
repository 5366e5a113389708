"""Campaign conditions: small expressions over the triggering event and the customer's profile.

Why ``simpleeval`` and not Python ``eval``: a condition is typed by a marketer into an API, so it is
untrusted input. ``simpleeval`` walks the expression tree itself, with no builtins, no calls we do
not hand it and no access to dunder attributes. We add a stricter gate at save time: the expression
is parsed with ``ast`` and every node must be one of a short list (comparisons, boolean logic,
arithmetic, literals) and every name must be ``event.<field>`` or ``customer.<field>`` of a known
field, so a typo is a 422 with its line and column when the campaign is saved, not a silent "never
true" in production.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from simpleeval import EvalWithCompoundTypes

CUSTOMER_FIELDS: frozenset[str] = frozenset(
    {
        "orders_count",
        "orders_total",
        "last_order_total",
        "days_since_last_order",
        "open_complaints",
        "segments",
        "lifecycle_stage",
        "churn_band",
        "value_tier",
        "relationship_type",
        "consents",
        "interests",
        "timezone",
        "recommended_skus",
    }
)
"""What ``customer.*`` may name: the replica's profile as the engine exposes it."""

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.Constant,
    ast.Name,
    ast.Attribute,
    ast.List,
    ast.Tuple,
    ast.Load,
)
_ROOTS = ("event", "customer")
MAX_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class ConditionError(Exception):
    """A condition that cannot be accepted, with the 1-based line and column of the problem."""

    message: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.message} (line {self.line}, column {self.column})"


def validate_condition(expression: str, *, event_fields: Collection[str]) -> None:
    """Raise ``ConditionError`` unless ``expression`` parses and names only known fields."""
    if len(expression) > MAX_LENGTH:
        raise ConditionError(f"condition longer than {MAX_LENGTH} characters", 1, MAX_LENGTH + 1)
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"syntax error: {exc.msg}", exc.lineno or 1, exc.offset or 1) from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise _error_at(node, f"{type(node).__name__} is not allowed in a condition")
        if isinstance(node, ast.Name) and node.id not in _ROOTS:
            raise _error_at(node, f"unknown name {node.id!r}: use event.<field> or customer.<field>")
        if isinstance(node, ast.Attribute):
            if not isinstance(node.value, ast.Name) or node.value.id not in _ROOTS:
                raise _error_at(node, "only event.<field> and customer.<field> may be used")
            known = event_fields if node.value.id == "event" else CUSTOMER_FIELDS
            if node.attr not in known:
                raise _error_at(node, f"unknown field {node.value.id}.{node.attr}", use_end=True)


def _error_at(node: ast.AST, message: str, *, use_end: bool = False) -> ConditionError:
    line = getattr(node, "lineno", 1)
    column = getattr(node, "col_offset", 0) + 1
    if use_end and isinstance(node, ast.Attribute):
        # Point at the field name itself (after the dot), which is what is wrong.
        column = getattr(node, "end_col_offset", column) - len(node.attr) + 1
    return ConditionError(message, line, column)


def evaluate_condition(
    expression: str | None,
    *,
    event: Mapping[str, Any],
    customer: Mapping[str, Any],
    event_fields: Collection[str],
) -> bool:
    """True when there is no condition or it holds; a runtime error (``None > 5``) counts as false.

    Every known field is present (``None`` when the event or profile lacks it), so a condition that
    passed validation never fails on a missing attribute.
    """
    if not expression or not expression.strip():
        return True
    names = {
        "event": SimpleNamespace(**{name: event.get(name) for name in event_fields}),
        "customer": SimpleNamespace(**{name: customer.get(name) for name in CUSTOMER_FIELDS}),
    }
    # The compound-types evaluator, because the save-time gate admits list and tuple literals
    # (``event.channel in ['web', 'store']``, ``event.recommendations != []``), which the plain one
    # refuses at run time: such a condition was accepted and then never held. The gate still refuses
    # dicts, sets and comprehensions before a condition is ever stored.
    evaluator = EvalWithCompoundTypes(names=names, functions={})
    try:
        return bool(evaluator.eval(expression.strip()))
    except Exception:  # any failure of an untrusted expression means "does not hold"
        return False
