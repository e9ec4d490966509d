"""SQL for charging: tokens, transactions, meter readings (group-committed), reservations, local lists, read models."""
