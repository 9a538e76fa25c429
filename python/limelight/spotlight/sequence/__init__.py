"""Sequence models, as spotlight.sequence."""
