"""Firmware images, updates and campaigns."""
