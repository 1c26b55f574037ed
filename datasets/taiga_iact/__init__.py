"""TFDS builder of TAIGA-IACT images (see taiga_iact_dataset_builder.py)."""
