"""SQL for users, API keys, browser sessions, sites, vehicles and the audit log."""
