"""OCPP 1.6-J (with the security whitepaper's messages)."""
