"""The OPC UA bridge: an OPC UA server whose address space is the fleet, with methods that send commands."""
