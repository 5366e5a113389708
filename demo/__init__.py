"""The demo generator: a realistic, living population loaded through the services' HTTP APIs.

Run ``python -m demo --customers 300 --months 6 --seed 42`` (add ``--live`` to keep activity going).
The months of history end today and are replayed in simulated time (``X-Simulated-Time``), so the
KPIs and timelines show them; ``demo/analytics-rules.yaml`` scales the analytics rules to months of
history. See ``demo.__main__`` for every option.
"""
