"""Telling the outside world: the notification outbox and delivery log, and webhook subscriptions."""
