"""Stations: identity, admission, boot, connection and connector state, what they report, their device models and frame logs."""
