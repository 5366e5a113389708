"""customer360 shared library: the event platform every service stands on.

Modules, from the wire inwards:

- ``envelope``     CloudEvents 1.0 (Kafka binary mode) codec, the one codec for every producer/consumer
- ``catalog``      typed, versioned event models, upcasters, personal-data marking
- ``eventstore``   PostgreSQL event store with optimistic concurrency and a transactional outbox
- ``relay``        outbox → Kafka publisher (idempotent producer, LISTEN/NOTIFY, leader election)
- ``consumer``     idempotent, batched, dead-lettering consumer kit for Faust agents
- ``topics``       idempotent topic provisioning
- ``migrations``   versioned SQL migrations per service database
- ``web``          the FastAPI service kit (problems, auth, idempotency, ETags, health, metrics)
"""
