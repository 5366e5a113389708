"""From Kafka to our code: the consumer kit, Faust's batch transport and adapter, dead letters."""
