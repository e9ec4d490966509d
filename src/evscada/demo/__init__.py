"""`evscada demo`: the CSMS seeded with an invented world through its core services, and a simulated fleet."""
