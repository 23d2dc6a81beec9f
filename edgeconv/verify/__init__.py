"""Verification: run each artifact on its runtime, then score accuracy, agreement, latency, size, memory."""
