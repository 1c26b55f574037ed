"""TFDS builder of LArTPC images (see lartpc_dataset_builder.py)."""
