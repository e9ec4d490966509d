"""Energy: site and grid limits, sharing them among sessions, departure plans and fail-safe limits."""
