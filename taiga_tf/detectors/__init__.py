"""Detector-specific parts of taiga_tf, one package per detector."""
