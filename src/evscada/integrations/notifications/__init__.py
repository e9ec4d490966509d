"""Alarm notifications: e-mail, webhooks and SMS with routing, on-call, escalation and a persisted outbox."""
