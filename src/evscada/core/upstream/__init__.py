"""The OCPP proxy's configuration and its durable buffer: a station's messages also reach a third-party CSMS."""
