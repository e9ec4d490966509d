"""The IEC 60870-5-104 server for grid control centres (docs/scada-bridges.md#iec-60870-5-104)."""
