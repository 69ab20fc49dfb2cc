"""Sensors: camera geometry, rendering, and labels computed from what was rendered."""
