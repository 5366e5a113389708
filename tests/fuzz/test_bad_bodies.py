"""Bodies no client should send: too large, too deep, numbers too big. Always a 4xx problem, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shared.testing.platform import RunningPlatform

LIMIT = 1_000_000  # ServiceSettings.max_body_bytes default
WRITES = {
    "customer": "/v1/customers",
    "ticketing": "/v1/tickets",
    "campaigns": "/v1/campaigns",
    "analytics": "/v1/customers",  # read-only API: a body on a GET route is still read and limited
}


@pytest.fixture(scope="module")
def http(fuzz_platform: RunningPlatform) -> Iterator[httpx.Client]:
    with httpx.Client(headers={"Authorization": f"Bearer {fuzz_platform.admin_token}",
                               "Content-Type": "application/json"}, timeout=60.0) as client:
        yield client


def _assert_problem(answer: httpx.Response, statuses: set[int]) -> None:
    assert answer.status_code in statuses, f"{answer.status_code}: {answer.text[:300]}"
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers["content-type"]


@pytest.mark.parametrize("service", sorted(WRITES))
def test_a_body_over_the_limit_is_refused_with_413(fuzz_platform: RunningPlatform, http: httpx.Client,
                                                   service: str) -> None:
    body = b'{"name": "' + b"x" * (LIMIT + 10) + b'"}'
    method = "GET" if service == "analytics" else "POST"
    _assert_problem(http.request(method, fuzz_platform.url(service, WRITES[service]), content=body), {413})


@pytest.mark.parametrize("service", ["customer", "ticketing", "campaigns"])
def test_a_streamed_body_without_length_over_the_limit_is_refused_with_413(
    fuzz_platform: RunningPlatform, http: httpx.Client, service: str
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"y" * 100_000
        yield b'"}'

    _assert_problem(http.post(fuzz_platform.url(service, WRITES[service]), content=chunks()), {413})


@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
@pytest.mark.parametrize("service", ["customer", "ticketing", "campaigns"])
def test_deeply_nested_json_is_a_client_error(fuzz_platform: RunningPlatform, http: httpx.Client, service: str,
                                               depth: int) -> None:
    nested = b'{"name": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"
    body = nested if len(nested) <= LIMIT else b"[" * (LIMIT - 10) + b"]" * 5
    _assert_problem(http.post(fuzz_platform.url(service, WRITES[service]), content=body), {400, 413, 422})


HUGE = ["1e400", "-1e400", "9" * 5000, "1e-400", "NaN", "Infinity", "123456789012345678901234567890.123"]


@pytest.mark.parametrize("number", HUGE)
def test_huge_numbers_in_money_and_quantities_are_client_errors(fuzz_platform: RunningPlatform, http: httpx.Client,
                                                                 number: str) -> None:
    registered = http.post(fuzz_platform.url("customer", "/v1/customers"),
                           content=b'{"name": "Big Number", "email": "big.%d@example.com", "acquisition_cost": %s}'
                           % (abs(hash(number)) % 10**9, number.encode()))
    assert registered.status_code < 500, registered.text[:300]
    if registered.status_code == 201:
        # Only a number that really is a small non-negative decimal may be accepted, and kept exactly.
        assert number in ("1e-400",), registered.text[:300]
    order = (b'{"customer_id": "01a2035c-4b1b-70b9-b88d-1dde884446b2", "currency": "TRY", "channel": "web", '
             b'"lines": [{"sku": "N", "name": "n", "category": "c", "quantity": %s, "unit_price": %s, '
             b'"unit_cost": "1.00"}]}' % (number.encode(), number.encode()))
    _assert_problem(http.post(fuzz_platform.url("customer", "/v1/orders"), content=order), {400, 404, 422})
    survey = b'{"customer_id": "01a2035c-4b1b-70b9-b88d-1dde884446b2", "kind": "nps", "score": %s}' % number.encode()
    answer = http.post(fuzz_platform.url("campaigns", "/v1/surveys/01a2035c-4b1b-70b9-b88d-1dde884446b2/responses"),
                       content=survey)
    _assert_problem(answer, {400, 404, 410, 422})
