"""The only OCPP-aware code of the CSMS: WebSocket server, sessions, and one adapter per OCPP version."""
