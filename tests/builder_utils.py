"""Imports the taiga_iact TFDS builder from datasets/ (as `tfds build datasets/taiga_iact` does)."""
import importlib
import pathlib
import sys

DATASETS_DIR = pathlib.Path(__file__).resolve().parents[1] / 'datasets'
BUILDER_DIR = DATASETS_DIR / 'taiga_iact'


def load_builder_module():
  if str(DATASETS_DIR) not in sys.path:
    sys.path.insert(0, str(DATASETS_DIR))
  return importlib.import_module('taiga_iact.taiga_iact_dataset_builder')
