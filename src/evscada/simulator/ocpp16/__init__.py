"""A simulated station's OCPP 1.6-J: its words, its answers to the CSMS's commands, and the full link."""
