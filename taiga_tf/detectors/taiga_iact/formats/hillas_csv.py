"""Hillas tables of the TAIGA-IACT chain (`*_hillas_*.csv`, FORMATS.md).

39 comma-separated columns with a header line; angular quantities in degrees.
Read like the event files (taiga_text.text_lines): gzip transparently, and bytes
that are not UTF-8 or a last line without its newline are errors naming the line.
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Iterator

from taiga_tf.detectors.taiga_iact.formats.taiga_text import FormatError, atomic_open, text_lines

COLUMNS = (
    'clean_number', 'event_number', 'axis_scatter', 'numb_pix', 'energy', 'size',
    'Xc', 'Yc', 'con2', 'length', 'width', 'dist0', 'dist1', 'dist2', 'azwidth',
    'miss', 'alpha0', 'alpha1', 'alpha2', 'a_axis', 'b_axis', 'x_max_coord',
    'y_max_coord', 'skewness_l', 'kurtosis_l', 'skewness_w', 'kurtosis_w', 'edge',
    'source_x', 'source_y', 'x_ground', 'y_ground', 'tel_tet', 'tel_fi',
    'source_tet', 'source_fi', 'Xmax', 'num_islands', 'con_selected_island')
INT_COLUMNS = {'clean_number', 'event_number', 'axis_scatter', 'numb_pix', 'edge',
               'num_islands'}
assert len(COLUMNS) == 39


def read_hillas_csv(path) -> Iterator[dict]:
  """Streams rows as dicts column -> float (int for counters)."""
  path = os.fspath(path)
  f = text_lines(path)
  head = next(f, '').strip().split(',')
  if tuple(h.strip() for h in head) != COLUMNS:
    raise FormatError(f'{path}:1: expected the 39-column Hillas header '
                      f'({",".join(COLUMNS[:4])},...), got {len(head)} columns '
                      f'starting {",".join(head[:4])!r}')
  for lineno, line in enumerate(f, 2):
    if not line.strip():
      continue
    parts = line.strip().split(',')
    if len(parts) != len(COLUMNS):
      raise FormatError(f'{path}:{lineno}: expected {len(COLUMNS)} comma-separated '
                        f'fields, got {len(parts)}')
    row = {}
    for name, p in zip(COLUMNS, parts):
      try:
        v = float(p)
      except ValueError:
        raise FormatError(f'{path}:{lineno}: column {name}: non-numeric {p!r}') from None
      if math.isinf(v):
        raise FormatError(f'{path}:{lineno}: column {name}: {p!r} is infinite')
      row[name] = int(v) if name in INT_COLUMNS and v == v else v
    yield row


def write_hillas_csv(path, rows: Iterable[dict]) -> int:
  """Writes rows (dicts with every column); returns the number written."""
  n = 0
  with atomic_open(path) as f:
    f.write(','.join(COLUMNS) + '\n')
    for row in rows:
      missing = [c for c in COLUMNS if c not in row]
      if missing:
        raise ValueError(f'Hillas row misses columns {missing}')
      f.write(','.join(str(int(row[c])) if c in INT_COLUMNS else f'{float(row[c]):.6g}'
                       for c in COLUMNS) + '\n')
      n += 1
  return n
