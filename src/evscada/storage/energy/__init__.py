"""SQL for energy: charging profiles set and reported, stations' charging limits, vehicles' charging needs."""
