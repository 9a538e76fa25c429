"""limelight: Spotlight's sequence recommenders on a C++20 engine.

``limelight.spotlight`` mirrors Spotlight's modules (interactions,
cross_validation, datasets, evaluation, layers, sequence), so a Spotlight
script runs with its imports changed. ``from_spotlight`` and
``to_spotlight_state_dict`` move trained models between the two; they import
torch only when called. See docs/python.md.
"""

from limelight._limelight import Model, ModelConfig
from limelight.interop import from_spotlight, load_model, to_spotlight_state_dict

__all__ = ["Model", "ModelConfig", "from_spotlight", "load_model", "to_spotlight_state_dict"]
