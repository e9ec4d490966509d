"""SQL for alarms and maintenance periods."""
