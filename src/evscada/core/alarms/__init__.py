"""Alarms: the engine that raises and clears them, the rules, and the operators' actions on them."""
