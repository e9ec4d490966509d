"""Bridges to other systems: webhooks, e-mail, MQTT ... Each is a bus subscriber or a client of the core."""
