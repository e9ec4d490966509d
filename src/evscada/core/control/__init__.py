"""Remote control: version-neutral commands sent to stations through the gateway, every outcome logged."""
