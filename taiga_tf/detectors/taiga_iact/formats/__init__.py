"""Readers and writers of detector MC output files, one module per format."""
