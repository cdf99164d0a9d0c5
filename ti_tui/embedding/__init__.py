"""Embedding files: every layout the popular UIs read, written and read back, and inspected."""
