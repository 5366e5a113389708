"""The demo generator: a realistic, living population loaded through the services' HTTP APIs.

Run ``python -m demo --customers 300 --months 6 --seed 42`` (add ``--live`` to keep activity going).
See ``demo.__main__`` for every option.
"""
