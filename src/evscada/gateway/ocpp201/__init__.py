"""OCPP 2.0.1 (and 2.1, which shares its messages for what a station reports)."""
