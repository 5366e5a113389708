"""Helpers the local infrastructure scripts call (readiness probes)."""
