"""Credentials and certificates."""
