"""Test suite root: real Kafka and PostgreSQL come from the shared.testing plugin."""

pytest_plugins = ["shared.testing.plugin"]
