"""Simulated charging stations: real OCPP clients (the `ocpp` package's client side), never a shortcut."""
