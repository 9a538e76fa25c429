"""Datasets, as spotlight.datasets: the synthetic generator and MovieLens from a local copy."""
