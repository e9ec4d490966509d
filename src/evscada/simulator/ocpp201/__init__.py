"""A simulated station's OCPP 2.0.1: its words, its answers to the CSMS's commands, and the full link."""
