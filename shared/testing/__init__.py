"""Test support: real-infrastructure fixtures (a pytest plugin), builders and waiting helpers."""
