"""Stations: identity, admission, boot, connection and connector state, their reports, device models, frame logs."""
