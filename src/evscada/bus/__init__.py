"""Event distribution: in-process by default, Redis when several nodes share the work."""
