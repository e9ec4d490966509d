"""evscada: an OCPP central system with SCADA functions."""

__version__ = "0.1.0"
