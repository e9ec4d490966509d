"""SQL for the historian: range reads, the aggregator, retention and its settings, monitoring reads."""
