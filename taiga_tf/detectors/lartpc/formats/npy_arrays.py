"""The LArTPC reference work's npy arrays: `larcv_png_64_{train,test}_{tracks,showers}.npy`.

Each file is one uint8 array (0-255 scale) of shape (N, 64, 64), (N, 64, 64, 1) or
(N, 64, 64, 3) (grey PNGs stored as RGB: the three channels are equal). The
header is parsed and the rows are read one at a time (through tf.io.gfile, so
local and cloud paths alike), so memory stays flat in the file size. Any
other dtype or shape, a file numpy cannot read, or an RGB entry whose channels
differ is an NpyFormatError naming the file (and entry) and what was expected.
"""
from __future__ import annotations

import os
import re
import stat
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


class _Array:
  """A .npy file's header and its rows, read one at a time from the open file."""

  def __init__(self, f, path, shape, dtype, fortran):
    self.f, self.path, self.shape, self.dtype = f, path, shape, dtype
    self.offset = f.tell()
    self.row_shape = shape[1:]
    self.row_bytes = int(np.prod(self.row_shape)) * dtype.itemsize
    if fortran and len(shape) > 1:
      raise NpyFormatError(f'{path}: Fortran-ordered array; expected C order')

  def row(self, i: int) -> np.ndarray:
    self.f.seek(self.offset + i * self.row_bytes)
    buf = self.f.read(self.row_bytes)
    if len(buf) != self.row_bytes:
      raise NpyFormatError(f'{self.path}: entry {i}: file ends early (truncated: {len(buf)} of '
                           f'{self.row_bytes} bytes)')
    return np.frombuffer(buf, self.dtype).reshape(self.row_shape)


def open_file(path):
  """The file, opened for reading through tf.io.gfile; a local path must be a regular file."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (GFile: local, GCS, ...)
  path = os.fspath(path)
  if '://' not in path:                     # a local FIFO would block, a device never end
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
      raise NpyFormatError(f'{path}: not a regular file (a directory, FIFO or device): only '
                           'regular files are read')
  return tf.io.gfile.GFile(path, 'rb')


def _header(f, path):
  try:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
      return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)
  except (ValueError, OSError, EOFError) as e:
    raise NpyFormatError(f'{path}: not a readable .npy array ({e})') from e


def open_array(path, image_size: int = 64, file=None) -> _Array:
  """The file's header, checked: (N, S, S[, 1 or 3]) uint8. Rows are read on demand."""
  path = os.fspath(path)
  f = file if file is not None else open_file(path)
  shape, fortran, dtype = _header(f, path)
  if dtype != np.uint8:
    raise NpyFormatError(f'{path}: dtype {dtype}, expected uint8 (the 0-255 PNG scale)')
  ok = (len(shape) == 3 and shape[1:] == (image_size, image_size)) or (
      len(shape) == 4 and shape[1:3] == (image_size, image_size) and shape[3] in (1, 3))
  if not ok:
    raise NpyFormatError(f'{path}: shape {shape}, expected (N, {image_size}, {image_size}) '
                         f'or (N, {image_size}, {image_size}, 1 or 3)')
  return _Array(f, path, shape, np.dtype(dtype), fortran)


def read_images(path, image_size: int = 64) -> Iterator[tuple[int, np.ndarray]]:
  """(entry, (S, S) uint8 image) for every entry of the file, one row in memory at a time."""
  with open_file(path) as f:
    arr = open_array(path, image_size, file=f)
    for i in range(arr.shape[0]):
      img = arr.row(i)
      if img.ndim == 3:
        if img.shape[2] == 3 and not (np.array_equal(img[..., 0], img[..., 1])
                                      and np.array_equal(img[..., 0], img[..., 2])):
          raise NpyFormatError(f'{path}: entry {i}: the three channels differ (expected a grey '
                               'image stored as RGB)')
        img = img[..., 0]
      yield i, np.ascontiguousarray(img)
