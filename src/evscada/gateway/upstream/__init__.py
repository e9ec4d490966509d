"""The OCPP proxy: a station's session also talks to a third-party CSMS as that station (docs/adr/0011)."""
