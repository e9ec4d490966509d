"""Webhooks: the core's outbox fanned out to subscribers, POSTed signed, retried until delivered (ADR 0004)."""
