"""The published event contracts of every domain, registered in ``shared.catalog.CATALOG``.

Importing this package registers every event type. Services produce the events of their own
domain module and consume others' through the catalog; no service imports another service.
"""

from shared.catalog import CATALOG

from . import analytics, campaigns, customer, ticketing  # noqa: F401 - registration side effect

__all__ = ["CATALOG"]
