"""SQL for firmware (core/firmware)."""
