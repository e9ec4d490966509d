"""The historian: meter-sample ranges and buckets, live readings, status history and availability."""
