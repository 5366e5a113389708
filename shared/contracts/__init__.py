"""The published event contracts of every domain, registered in ``shared.events.catalog.CATALOG``.

Importing this package registers every event type. Services produce the events of their own
domain module and consume others' through the catalog; no service imports another service. The
one exception to "one module per producing domain" is ``privacy``: every service publishes its
``CustomerDataErased`` acknowledgement on its own topic.
"""

from shared.contracts import analytics, campaigns, customer, privacy, ticketing  # noqa: F401 - registration side effect
from shared.events.catalog import CATALOG

__all__ = ["CATALOG"]
