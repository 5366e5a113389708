"""What travels: the event catalog and the CloudEvents envelope every producer and consumer share."""
