"""Charging: authorization, transactions, meter values, reservations, local lists, and the read models of sessions."""
