"""SQL for charging: tokens, transactions, meter readings (group-committed), reservations and local lists."""
