"""Spotlight's sequence API (spotlight v0.1.6) on limelight's engine.

Replace ``spotlight`` by ``limelight.spotlight`` in the imports; names,
arguments, defaults and results follow Spotlight. Where an argument cannot be
honoured (a PyTorch ``optimizer_func``, ``use_cuda``), a ValueError says so.
"""
