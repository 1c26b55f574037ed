"""The LArTPC reference work's npy arrays: `larcv_png_64_{train,test}_{tracks,showers}.npy`.

Each file is one uint8 array (0-255 scale) of shape (N, 64, 64), (N, 64, 64, 1) or
(N, 64, 64, 3) (grey PNGs stored as RGB: the three channels are equal). Read
memory-mapped, one image at a time, so memory stays flat in the file size. Any
other dtype or shape, a file numpy cannot read, or an RGB entry whose channels
differ is an NpyFormatError naming the file (and entry) and what was expected.
"""
from __future__ import annotations

import os
import re
from typing import Iterator

import numpy as np

NAME_RE = re.compile(r'^larcv_png_(?P<size>\d+)_(?P<split>train|test)_(?P<kind>tracks|showers)\.npy$')


class NpyFormatError(ValueError):
  """Malformed reference npy array; the message names the file and entry."""


def parse_name(path) -> dict:
  """{'size', 'split', 'kind'} from a reference file name, or a NpyFormatError."""
  m = NAME_RE.match(os.path.basename(os.fspath(path)))
  if not m:
    raise NpyFormatError(f'{path}: not a reference array name '
                         '(larcv_png_<size>_{train,test}_{tracks,showers}.npy)')
  return {'size': int(m['size']), 'split': m['split'], 'kind': m['kind']}


def open_array(path, image_size: int = 64) -> np.ndarray:
  """The file's array, memory-mapped and checked: (N, S, S[, 1 or 3]) uint8."""
  path = os.fspath(path)
  try:
    arr = np.load(path, mmap_mode='r', allow_pickle=False)
  except (ValueError, OSError, EOFError) as e:
    raise NpyFormatError(f'{path}: not a readable .npy array ({e})') from e
  if arr.dtype != np.uint8:
    raise NpyFormatError(f'{path}: dtype {arr.dtype}, expected uint8 (the 0-255 PNG scale)')
  ok = (arr.ndim == 3 and arr.shape[1:] == (image_size, image_size)) or (
      arr.ndim == 4 and arr.shape[1:3] == (image_size, image_size) and arr.shape[3] in (1, 3))
  if not ok:
    raise NpyFormatError(f'{path}: shape {arr.shape}, expected (N, {image_size}, {image_size}) '
                         f'or (N, {image_size}, {image_size}, 1 or 3)')
  return arr


def read_images(path, image_size: int = 64) -> Iterator[tuple[int, np.ndarray]]:
  """(entry, (S, S) uint8 image) for every entry of the file."""
  arr = open_array(path, image_size)
  for i in range(arr.shape[0]):
    img = np.asarray(arr[i])
    if img.ndim == 3:
      if img.shape[2] == 3 and not (np.array_equal(img[..., 0], img[..., 1])
                                    and np.array_equal(img[..., 0], img[..., 2])):
        raise NpyFormatError(f'{path}: entry {i}: the three channels differ (expected a grey '
                             'image stored as RGB)')
      img = img[..., 0]
    yield i, np.ascontiguousarray(img)
