"""Compression stages: quantization (pruning plugs in here too)."""
