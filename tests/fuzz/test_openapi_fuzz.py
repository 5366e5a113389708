"""Property-based fuzzing of every operation of every API from its own OpenAPI document (schemathesis).

Schemathesis generates valid (positive) and invalid (negative) requests for each operation and sends
them, with an admin token, to the real API processes. Its pytest plugin does not work with pytest 9
(it reads ``Function._nodeid``), so the strategies are driven with hypothesis directly.
Every answer must be below 500 and match the document: a status
code it declares, its content type, its response schema and headers.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.testing.platform import RunningPlatform

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]

SERVICES = ("customer", "ticketing", "campaigns", "analytics")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
EXAMPLES_PER_OPERATION = 25


class _Failures(list[str]):
    """Failures collected across one service's operations (one test reports them all)."""


def _fuzz_operation(operation: Any, mode: GenerationMode, token: str, failures: _Failures) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        pass  # no invalid request exists for an operation without parameters or body
    except Exception as exc:  # schemathesis raises a group of check failures with the reproduction
        failures.append(f"{operation.label} ({mode.value}): {str(exc)[:1500]}")


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_survives_fuzzing_and_answers_as_documented(fuzz_platform: RunningPlatform,
                                                                    service: str) -> None:
    schema = schemathesis.openapi.from_url(fuzz_platform.url(service, "/openapi.json"))
    failures = _Failures()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, fuzz_platform.admin_token, failures)
    assert operations >= 8
    assert not failures, f"{len(failures)} operation(s) of {service} failed:\n\n" + "\n\n".join(failures)
