"""Text event files of the TAIGA-IACT MC chain (FORMATS.md), streaming.

Event files (`*_c.txt`, `*_cbN.txt`): per triggered event a header of 11 numbers

    n_shower i_scat n_pix energy x_ground y_ground tel_theta tel_phi src_theta src_phi xmax

then `n_pix` lines `cluster channel x_cm y_cm amplitude` (pixels not listed are 0).

Cleaned files (`*_clean_*.txt`): header

    n_clean n_shower i_scat n_pix energy x_src_cm y_src_cm x_ground y_ground a_axis b_axis

then `n_pix` lines of the surviving pixels in the same 5-column form.

Readers are generators (memory does not grow with the file) and every problem is
an error naming the file, the line and what was expected; nothing is skipped:
bytes that are not UTF-8 text (a binary file, a latin-1 byte), a last line cut
before its newline (a truncated copy), a value float32 cannot hold (|x| >
3.4e38; the datasets store float32), a counter beyond int32. Gzip-compressed
files (`*.txt.gz`, or any file starting with the gzip magic bytes) are read
transparently, streaming.

What a file can make the reader allocate is bounded: a line longer than
MAX_LINE_BYTES (a gzip bomb without newlines) and a header announcing more than
MAX_PIXELS pixel lines are errors naming the line, so one block costs at most
MAX_PIXELS * MAX_LINE_BYTES bytes; only regular files are read (a FIFO or a
device named like an event file would block or never end).
Writers write to a temporary file renamed when complete.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gzip
import itertools
import math
import os
import stat
import zlib
from typing import Iterable, Iterator

import numpy as np

EVENT_HEADER = ('n_shower', 'i_scat', 'n_pix', 'energy', 'x_ground', 'y_ground',
                'tel_theta', 'tel_phi', 'src_theta', 'src_phi', 'xmax')
CLEAN_HEADER = ('n_clean', 'n_shower', 'i_scat', 'n_pix', 'energy', 'x_src_cm',
                'y_src_cm', 'x_ground', 'y_ground', 'a_axis', 'b_axis')
PIXEL_COLUMNS = ('cluster', 'channel', 'x_cm', 'y_cm', 'amplitude')
_INT_FIELDS = {'n_shower', 'i_scat', 'n_pix', 'n_clean'}


class FormatError(ValueError):
  """Malformed MC file; the message names the file and line."""


FLOAT32_MAX = float(np.finfo(np.float32).max)
INT32_MAX = 2**31 - 1             # n_shower, i_scat are stored as int32
MAX_LINE_BYTES = 4096             # a pixel line is ~30 bytes, a header ~100
MAX_PIXELS = 10000                # pixel lines of one event (cameras have < 1000 pixels)
_GZIP_MAGIC = b'\x1f\x8b'


def check_regular_file(path):
  """Raises FormatError unless `path` is a regular file (or a link to one).

  A FIFO named like an event file blocks the reader for ever, a device never ends.
  A missing path is the usual FileNotFoundError.
  """
  mode = os.stat(path).st_mode
  if stat.S_ISREG(mode):
    return
  kind = ('a directory' if stat.S_ISDIR(mode) else 'a FIFO (named pipe)' if stat.S_ISFIFO(mode)
          else 'a device' if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
          else 'a socket' if stat.S_ISSOCK(mode) else 'not a file')
  raise FormatError(f'{os.fspath(path)}: {kind}, not a regular file: only regular files are read')


def is_gzip(path) -> bool:
  check_regular_file(path)
  with open(path, 'rb') as f:
    return f.read(2) == _GZIP_MAGIC


def text_lines(path) -> Iterator[str]:
  """The text lines of `path` (gzip or plain), each ending in a newline.

  Raises FormatError naming the line for bytes that are not UTF-8, for a last
  line without its newline (the file was cut) and for a line longer than
  MAX_LINE_BYTES (memory stays bounded whatever the file holds).
  """
  compressed = is_gzip(path)
  with (gzip.open if compressed else open)(path, 'rb') as f:
    lineno = 0
    while True:
      try:
        raw = f.readline(MAX_LINE_BYTES + 1)
      except (OSError, EOFError, zlib.error) as e:
        if not compressed:
          raise
        raise FormatError(f'{path}:{lineno + 1}: broken gzip stream ({e}): a cut or damaged '
                          'compressed file') from None
      if not raw:
        break
      lineno += 1
      if b'\x00' in raw:
        raise FormatError(f'{path}:{lineno}: NUL byte at column {raw.index(0) + 1}: a binary '
                          'file, not text (compressed files must be gzip)')
      if len(raw) > MAX_LINE_BYTES and not raw.endswith(b'\n'):
        raise FormatError(f'{path}:{lineno}: line longer than {MAX_LINE_BYTES} bytes (expected '
                          'a header or a pixel line of a few numbers: a damaged or foreign file)')
      try:
        line = raw.decode('utf-8')
      except UnicodeDecodeError as e:
        raise FormatError(f'{path}:{lineno}: byte 0x{raw[e.start]:02x} at column {e.start + 1} '
                          'is not UTF-8 text (a binary or non-UTF-8 file? compressed files '
                          'must be gzip)') from None
      if not line.endswith('\n'):
        if line.strip():
          raise FormatError(f'{path}:{lineno}: last line ends without a newline: the file was '
                            f'cut in the middle of a line ({line.strip()[-40:]!r})')
      yield line


@dataclasses.dataclass
class Block:
  """One header and its pixel lines, as read from a file.

  `header` maps field names to values (ints for counters, floats otherwise);
  `pixels` is an (n_pix, 5) float64 array of PIXEL_COLUMNS; `line` is the
  header's line number, `path` the file.
  """
  header: dict
  pixels: np.ndarray
  path: str = ''
  line: int = 0

  def __getattr__(self, name):
    try:
      return self.__dict__['header'][name]
    except KeyError:
      raise AttributeError(name) from None

  @property
  def impact_distance(self) -> float:
    return math.hypot(self.header['x_ground'], self.header['y_ground'])

  def amplitudes(self, camera, tolerance_cm: float = 0.3) -> np.ndarray:
    """Dense per-pixel amplitude vector (camera.n_pixels,) float32.

    Each pixel line is placed by its x/y on the lattice; an off-camera
    coordinate or a pixel listed twice is a FormatError naming the line.
    """
    idx = camera.locate(self.pixels[:, 2], self.pixels[:, 3], tolerance_cm)
    bad = np.flatnonzero(idx < 0)
    if len(bad):
      k = bad[0]
      raise FormatError(
          f'{self.path}:{self.line + 1 + k}: pixel at x={self.pixels[k, 2]} '
          f'y={self.pixels[k, 3]} cm is not a pixel of camera {camera.name} '
          f'(tolerance {tolerance_cm} cm)')
    uniq, first, counts = np.unique(idx, return_index=True, return_counts=True)
    if len(uniq) != len(idx):
      k = int(np.flatnonzero(np.isin(idx, uniq[counts > 1]))[1])
      raise FormatError(f'{self.path}:{self.line + 1 + k}: pixel at x={self.pixels[k, 2]} '
                        f'y={self.pixels[k, 3]} cm listed twice in one event')
    out = np.zeros(camera.n_pixels, dtype=np.float32)
    out[idx] = self.pixels[:, 4]
    return out


def _parse_numbers(parts, path, lineno, what):
  try:
    vals = [float(p) for p in parts]
  except ValueError:
    raise FormatError(f'{path}:{lineno}: non-numeric field in {what}: '
                      f'{" ".join(parts)!r}') from None
  for name, v in zip(range(len(vals)), vals):
    if not math.isfinite(v):
      raise FormatError(f'{path}:{lineno}: field {name + 1} of {what} is {v} '
                        f'(expected a finite number)')
    if abs(v) > FLOAT32_MAX:
      raise FormatError(f'{path}:{lineno}: field {name + 1} of {what} is {parts[name]}, beyond '
                        f'float32 (|x| <= {FLOAT32_MAX:.4g}), which the dataset cannot hold')
  return vals


def read_blocks(path, header_fields=EVENT_HEADER, keep=None,
                max_pixels: int = MAX_PIXELS) -> Iterator[Block]:
  """Streams the header + pixel-line blocks of an event or cleaned file.

  keep: optional predicate on the header dict; blocks it rejects are passed
  over without parsing their pixel lines (only their presence is checked).
  max_pixels: a header announcing more pixel lines is an error (memory bound).
  """
  path = os.fspath(path)
  n_fields = len(header_fields)
  what = 'header (' + ' '.join(header_fields) + ')'
  f = text_lines(path)
  lineno = 0
  for line in f:
    lineno += 1
    parts = line.split()
    if not parts:
      continue
    if len(parts) != n_fields:
      raise FormatError(f'{path}:{lineno}: expected a {n_fields}-field {what}, '
                        f'got {len(parts)} fields')
    vals = _parse_numbers(parts, path, lineno, 'header')
    header = {}
    for name, v in zip(header_fields, vals):
      if name in _INT_FIELDS:
        if v != int(v) or v < 0 or v > INT32_MAX:
          raise FormatError(f'{path}:{lineno}: {name} must be a non-negative '
                            f'integer up to {INT32_MAX} (stored as int32), got '
                            f'{parts[header_fields.index(name)]!r}')
        v = int(v)
      header[name] = v
    n_pix, head_line = header['n_pix'], lineno
    if n_pix > max_pixels:
      raise FormatError(f'{path}:{lineno}: header announces n_pix={n_pix} pixel lines, more '
                        f'than the {max_pixels} an event may list (a damaged header?)')
    if keep is not None and not keep(header):
      n_read = sum(1 for _ in itertools.islice(f, n_pix))   # counted, not kept
      if n_read < n_pix:
        raise FormatError(f'{path}:{head_line}: truncated block: header announces '
                          f'n_pix={n_pix} pixel lines, file ends after {n_read}')
      lineno += n_pix
      continue
    lines = list(itertools.islice(f, n_pix))
    if len(lines) < n_pix:
      raise FormatError(f'{path}:{head_line}: truncated block: header announces '
                        f'n_pix={n_pix} pixel lines, file ends after {len(lines)}')
    lineno += n_pix
    flat = []
    for k, pline in enumerate(lines):   # every line has its 5 fields (not just the total)
      fields = pline.split()
      if len(fields) != 5:
        raise FormatError(
            f'{path}:{head_line + 1 + k}: expected pixel line {k + 1} of {n_pix} '
            f'(cluster channel x_cm y_cm amplitude, 5 fields), got {len(fields)} '
            f'fields: fewer pixel lines than n_pix={n_pix} announced at line {head_line}?')
      flat.extend(fields)
    try:
      pixels = np.asarray(flat, dtype=np.float64).reshape(n_pix, 5)
    except ValueError:
      for k in range(n_pix):  # slow path, only to name the bad line
        _parse_numbers(flat[5 * k:5 * k + 5], path, head_line + 1 + k, 'pixel line')
      raise
    bad = ~np.isfinite(pixels) | (np.abs(pixels) > FLOAT32_MAX)
    if bad.any():
      k = int(np.flatnonzero(bad.any(axis=1))[0])
      _parse_numbers(flat[5 * k:5 * k + 5], path, head_line + 1 + k, 'pixel line')
    yield Block(header=header, pixels=pixels, path=path, line=head_line)


def read_events(path, keep=None, max_pixels: int = MAX_PIXELS) -> Iterator[Block]:
  """Streams the events of a `*_c.txt` / `*_cbN.txt` file (see read_blocks)."""
  return read_blocks(path, EVENT_HEADER, keep, max_pixels)


def read_cleaned(path) -> Iterator[Block]:
  """Streams the events of a `*_clean_*.txt` file."""
  return read_blocks(path, CLEAN_HEADER)


def pixel_lines(camera, amplitudes, keep=None) -> np.ndarray:
  """(n, 5) pixel rows for the listed pixels (default: non-zero amplitudes)."""
  amplitudes = np.asarray(amplitudes)
  if keep is None:
    keep = np.round(amplitudes, 2) != 0
  idx = np.flatnonzero(keep)
  return np.column_stack([camera.cluster[idx], camera.channel[idx],
                          np.round(camera.x[idx], 3), np.round(camera.y[idx], 3),
                          amplitudes[idx]])


def _format_number(name, v):
  if name in _INT_FIELDS:
    return str(int(v))
  return f'{float(v):.7g}'


def format_block(header: dict, pixels: np.ndarray, header_fields=EVENT_HEADER) -> str:
  header = dict(header, n_pix=len(pixels))
  head = ' '.join(_format_number(n, header[n]) for n in header_fields)
  lines = [head]
  for c, ch, x, y, a in pixels:
    lines.append(f'{int(c)} {int(ch)} {x:.3f} {y:.3f} {a:.2f}')
  return '\n'.join(lines) + '\n'


@contextlib.contextmanager
def atomic_open(path, mode='w'):
  """Opens `path + '.tmp'` and renames it to `path` only on success."""
  path = os.fspath(path)
  tmp = path + '.tmp'
  try:
    with open(tmp, mode) as f:
      yield f
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp)
    raise


def write_blocks(path, blocks: Iterable[tuple[dict, np.ndarray]],
                 header_fields=EVENT_HEADER) -> int:
  """Writes (header, pixel rows) blocks; returns the number written."""
  n = 0
  with atomic_open(path) as f:
    for header, pixels in blocks:
      f.write(format_block(header, pixels, header_fields))
      n += 1
  return n
