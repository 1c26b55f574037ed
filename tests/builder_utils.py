"""Imports the TFDS builders from datasets/ (as `tfds build datasets/<name>` does)."""
import importlib
import pathlib
import sys

DATASETS_DIR = pathlib.Path(__file__).resolve().parents[1] / 'datasets'
BUILDER_DIR = DATASETS_DIR / 'taiga_iact'


def load_builder_module(name: str = 'taiga_iact'):
  if str(DATASETS_DIR) not in sys.path:
    sys.path.insert(0, str(DATASETS_DIR))
  return importlib.import_module(f'{name}.{name}_dataset_builder')
