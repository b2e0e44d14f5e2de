"""Data: sources, benchmark builders, datasets, samplers and built-in data."""
