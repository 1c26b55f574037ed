"""Keras 3 models and layers (no training logic)."""
