"""From the outbox to Kafka: the relay and the topics it publishes to."""
