"""Personal data across services: key access for subscribers, the right-of-access export."""
