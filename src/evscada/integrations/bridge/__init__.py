"""What the MQTT and OPC UA bridges share: a backlog that never blocks the bus, a live view of the fleet built from
the core's events, and the commands a SCADA may send (docs/scada-bridges.md)."""
