"""Shared test fixtures: reference data from ../shared (skipped when absent)."""
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get('TAIGA_TF_SHARED', REPO.parent / 'shared'))
PIXEL_TABLE = SHARED / 'reference' / 'taiga_iact' / 'XY_turn_2020jan2tel_18fix.txt'


@pytest.fixture
def pixel_table_2020():
  if not PIXEL_TABLE.exists():
    pytest.skip(f'reference pixel table not found at {PIXEL_TABLE}')
  return PIXEL_TABLE
