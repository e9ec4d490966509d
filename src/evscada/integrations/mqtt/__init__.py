"""The MQTT bridge: the fleet's states, telemetry and alarms published to a broker, commands taken from it."""
