"""Who may do what and where: users, API keys, browser sessions, sites, vehicles and their tokens, the audit log."""
