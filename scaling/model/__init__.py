"""Models: config (shape, parameter counts, FLOPs), shape rule, Flax NNX modules."""
from scaling.model.config import ModelConfig
from scaling.model.shapes import ShapeRule

__all__ = ["ModelConfig", "ShapeRule"]
