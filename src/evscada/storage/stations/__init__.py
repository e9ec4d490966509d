"""SQL for stations: their rows, group-committed connection/boot/status writes, reports, device models, frame logs."""
