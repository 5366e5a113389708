"""Test suite root: real Kafka and PostgreSQL come from the shared.testing plugin."""

from __future__ import annotations

import pytest

pytest_plugins = ["shared.testing.plugin"]

# Browser tests run last: Playwright's sync API keeps an event loop running in the main thread for
# as long as its session fixture lives, and async tests cannot start while it does.
_LAST = ("tests/e2e/",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: any(part in item.nodeid for part in _LAST))
