"""SQL for the notification outbox and delivery log, and for webhook subscriptions and the event outbox."""
