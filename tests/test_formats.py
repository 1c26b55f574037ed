"""Text event files, cleaned files and Hillas CSV: round trips and clear errors."""
import numpy as np
import pytest

from taiga_tf.detectors.taiga_iact.camera import builtin_camera
from taiga_tf.detectors.taiga_iact.formats import hillas_csv, taiga_text

CAM = builtin_camera()
HEADER = dict(n_shower=12, i_scat=3, n_pix=0, energy=5.25, x_ground=-120.5,
              y_ground=33.25, tel_theta=0.0, tel_phi=0.0, src_theta=0.01,
              src_phi=1.5, xmax=412.5)


def _event(seed=0, n=40):
  rng = np.random.default_rng(seed)
  amps = np.zeros(CAM.n_pixels)
  idx = rng.choice(CAM.n_pixels, n, replace=False)
  amps[idx] = np.round(rng.uniform(1, 200, n), 2)
  return amps


def test_event_round_trip(tmp_path):
  path = tmp_path / 'iact01_cb4.txt'
  events = [_event(s) for s in range(3)]
  blocks = [(dict(HEADER, n_shower=s), taiga_text.pixel_lines(CAM, a)) for s, a in enumerate(events)]
  assert taiga_text.write_blocks(path, blocks) == 3
  back = list(taiga_text.read_events(path))
  assert len(back) == 3
  for s, (blk, a) in enumerate(zip(back, events)):
    assert blk.n_shower == s and blk.i_scat == 3 and blk.n_pix == 40
    assert blk.energy == pytest.approx(5.25) and blk.xmax == pytest.approx(412.5)
    assert blk.impact_distance == pytest.approx(np.hypot(-120.5, 33.25))
    np.testing.assert_allclose(blk.amplitudes(CAM), a, atol=1e-6)
  # the first header sits on line 1, the next after 40 pixel lines
  assert [b.line for b in back] == [1, 42, 83]


def test_reader_streams(tmp_path):
  path = tmp_path / 'big_c.txt'
  a = _event(1)
  taiga_text.write_blocks(path, ((dict(HEADER, n_shower=i), taiga_text.pixel_lines(CAM, a))
                                 for i in range(50)))
  it = taiga_text.read_events(path)
  first = next(it)  # a generator: nothing else read yet
  assert first.n_shower == 0
  assert sum(1 for _ in it) == 49


def _write(tmp_path, text, name='bad_cb4.txt'):
  p = tmp_path / name
  p.write_text(text)
  return p


GOOD_HEAD = '1 0 2 3.5 10 20 0 0 0 0 400'


@pytest.mark.parametrize('text,pattern', [
    (GOOD_HEAD + '\n1 1 0.000 0.000 5.0\n', r':1: truncated block: header announces n_pix=2 pixel lines, file ends after 1'),
    (GOOD_HEAD + '\n1 1 0.000 0.000 5.0\n' + GOOD_HEAD + '\n', r':3: expected pixel line 2 of 2 .*got 11 fields: fewer pixel lines than n_pix=2'),
    (GOOD_HEAD + '\n1 1 0.000 0.000 abc\n1 2 3.000 0.000 1\n', r':2: non-numeric field in pixel line'),
    (GOOD_HEAD + '\n1 1 0.000 0.000 5\n1 2 3.000 0.000 nan\n', r':3: field 5 of pixel line is nan'),
    ('1 0 2 3.5 10 20 0 0 0 400\n', r':1: expected a 11-field header .* got 10 fields'),
    ('1 0 2 3.5 10 20 0 0 0 0 inf\n', r':1: field 11 of header is inf'),
    ('1 0 2.5 3.5 10 20 0 0 0 0 400\n', r':1: n_pix must be a non-negative integer'),
    # a value float32 cannot hold (the datasets store float32): not silently inf
    (GOOD_HEAD + '\n1 1 0.000 0.000 5\n1 2 3.000 0.000 1e39\n', r':3: field 5 of pixel line is 1e39, beyond float32'),
    ('1 0 0 -4e38 10 20 0 0 0 0 400\n', r':1: field 4 of header is -4e38, beyond float32'),
    # cut in the middle of the last number: 2.75 must not become 2.7
    (GOOD_HEAD + '\n1 1 0.000 0.000 5\n1 2 3.000 0.000 2.7', r':3: last line ends without a newline: the file was cut'),
])
def test_read_errors_name_file_and_line(tmp_path, text, pattern):
  p = _write(tmp_path, text)
  with pytest.raises(taiga_text.FormatError, match='bad_cb4.txt' + pattern):
    for blk in taiga_text.read_events(p):
      blk.amplitudes(CAM)


@pytest.mark.parametrize('data,line', [
    (b'\x1f\x8bnot really gzip', 1),                           # gzip magic, broken stream
    ('1 0 1 3.5 10 20 0 0 0 0 400\n1 1 0.000 0.000 5.0 \xe9\n'.encode('latin-1'), 2),
    (bytes(range(256)) * 4, 1),                                 # binary
])
def test_files_that_are_not_text_name_file_and_line(tmp_path, data, line):
  p = tmp_path / 'bad_cb4.txt'
  p.write_bytes(data)
  pattern = (r'bad_cb4.txt:%d: (byte 0x[0-9a-f]{2} at column \d+ is not UTF-8 text|'
             r'broken gzip|NUL byte at column 1: a binary)' % line)
  with pytest.raises(taiga_text.FormatError, match=pattern):
    list(taiga_text.read_events(p))


def test_gzip_files_read_transparently(tmp_path):
  import gzip
  plain = tmp_path / 'a_cb4.txt'
  blocks = [(dict(HEADER, n_shower=s), taiga_text.pixel_lines(CAM, _event(s))) for s in range(3)]
  taiga_text.write_blocks(plain, blocks)
  packed = tmp_path / 'a_cb4.txt.gz'
  packed.write_bytes(gzip.compress(plain.read_bytes()))
  odd = tmp_path / 'b_cb4.txt'          # gzip content under a plain name: read by its magic bytes
  odd.write_bytes(packed.read_bytes())
  ref = list(taiga_text.read_events(plain))
  for path in (packed, odd):
    back = list(taiga_text.read_events(path))
    assert [b.line for b in back] == [b.line for b in ref]
    for a, b in zip(back, ref):
      assert a.header == b.header and np.array_equal(a.pixels, b.pixels)
  # a cut gzip stream is an error naming the file, not a silently short read
  cut = tmp_path / 'c_cb4.txt.gz'
  cut.write_bytes(packed.read_bytes()[:-30])
  with pytest.raises(taiga_text.FormatError, match=r'c_cb4.txt.gz:\d+: broken gzip stream'):
    list(taiga_text.read_events(cut))


def test_off_camera_and_duplicate_pixels(tmp_path):
  p = _write(tmp_path, GOOD_HEAD + '\n1 1 0.000 0.000 5\n1 2 1.500 0.000 1\n')
  with pytest.raises(taiga_text.FormatError, match=r'bad_cb4.txt:3: pixel at x=1.5 y=0.0 cm is not a pixel'):
    [b.amplitudes(CAM) for b in taiga_text.read_events(p)]
  p = _write(tmp_path, GOOD_HEAD + '\n1 1 0.000 0.000 5\n1 1 0.010 0.000 1\n')
  with pytest.raises(taiga_text.FormatError, match=r'bad_cb4.txt:3: .* listed twice'):
    [b.amplitudes(CAM) for b in taiga_text.read_events(p)]
  p = _write(tmp_path, GOOD_HEAD + '\n1 1 300.0 0.000 5\n1 2 3.000 0.000 1\n')
  with pytest.raises(taiga_text.FormatError, match=r'bad_cb4.txt:2: .*not a pixel'):
    [b.amplitudes(CAM) for b in taiga_text.read_events(p)]


def test_writer_is_atomic(tmp_path):
  path = tmp_path / 'out_c.txt'

  def blocks():
    yield HEADER, taiga_text.pixel_lines(CAM, _event())
    raise RuntimeError('simulation died')

  with pytest.raises(RuntimeError):
    taiga_text.write_blocks(path, blocks())
  assert list(tmp_path.iterdir()) == []


def test_cleaned_round_trip(tmp_path):
  head = dict(n_clean=1, n_shower=4, i_scat=2, n_pix=0, energy=2.0, x_src_cm=0.5,
              y_src_cm=-0.25, x_ground=10.0, y_ground=-5.0, a_axis=0.3, b_axis=1.2)
  a = _event(3, 12)
  path = tmp_path / 'iact01_clean_14_7.txt'
  taiga_text.write_blocks(path, [(head, taiga_text.pixel_lines(CAM, a))], taiga_text.CLEAN_HEADER)
  (blk,) = taiga_text.read_cleaned(path)
  assert blk.n_clean == 1 and blk.n_pix == 12 and blk.x_src_cm == pytest.approx(0.5)
  np.testing.assert_allclose(blk.amplitudes(CAM), a, atol=1e-6)


def test_hillas_csv_round_trip_and_errors(tmp_path):
  rows = [{c: float(i + k) for k, c in enumerate(hillas_csv.COLUMNS)} for i in range(3)]
  path = tmp_path / 'iact01_hillas_14_7.csv'
  assert hillas_csv.write_hillas_csv(path, rows) == 3
  back = list(hillas_csv.read_hillas_csv(path))
  assert len(back) == 3 and back[2]['size'] == pytest.approx(rows[2]['size'])
  assert isinstance(back[0]['numb_pix'], int)
  text = path.read_text().splitlines()
  text[2] = text[2].rsplit(',', 1)[0]
  path.write_text('\n'.join(text))
  with pytest.raises(taiga_text.FormatError, match=r'hillas_14_7.csv:3: expected 39'):
    list(hillas_csv.read_hillas_csv(path))
  path.write_text('a,b,c\n1,2,3\n')
  with pytest.raises(taiga_text.FormatError, match=r'csv:1: expected the 39-column Hillas header'):
    list(hillas_csv.read_hillas_csv(path))


def test_real_camera_events_round_trip(tmp_path, pixel_table_2020):
  """Events on the 595-pixel 2020 camera (optics frame) are placed by x/y."""
  from taiga_tf.detectors.taiga_iact.camera import load_pixel_table
  from taiga_tf.detectors.taiga_iact.mc import simulate
  cam = load_pixel_table(pixel_table_2020)
  evs = list(simulate.generate(simulate.MCConfig(particle='gamma', core_radius_m=200), 5,
                               seed=2, camera=cam))
  path = tmp_path / 'iact02_cb4.txt'
  taiga_text.write_blocks(path, [(e.header, taiga_text.pixel_lines(cam, np.round(e.amplitudes, 2)))
                                 for e in evs])
  back = list(taiga_text.read_events(path))
  assert len(back) == 5
  for b, e in zip(back, evs):
    np.testing.assert_allclose(b.amplitudes(cam), np.round(e.amplitudes, 2), atol=1e-5)
  # the same lines do not fit the built-in camera's lattice everywhere
  far = b.pixels[np.argmax(np.hypot(b.pixels[:, 2], b.pixels[:, 3]))]
  assert np.hypot(far[2], far[3]) > 40
  with pytest.raises(taiga_text.FormatError, match='not a pixel of camera taiga_builtin_560'):
    b.amplitudes(CAM)


def test_keep_predicate_skips_blocks_but_checks_truncation(tmp_path):
  path = tmp_path / 'k_cb4.txt'
  taiga_text.write_blocks(path, [(dict(HEADER, n_shower=i), taiga_text.pixel_lines(CAM, _event(i)))
                                 for i in range(4)])
  kept = list(taiga_text.read_events(path, keep=lambda h: h['n_shower'] % 2 == 1))
  assert [b.n_shower for b in kept] == [1, 3]
  assert kept[0].line == 42          # line numbers stay those of the file
  lines = path.read_text().splitlines()
  path.write_text('\n'.join(lines[:-3]) + '\n')
  with pytest.raises(taiga_text.FormatError, match=r'k_cb4.txt:124: truncated block'):
    list(taiga_text.read_events(path, keep=lambda h: False))


# ------------------------------------------------------------ bounded cost, regular files
def test_a_line_without_newline_is_refused_with_bounded_memory(tmp_path):
  """A small .gz expanding to 20 MB without a newline: an error naming line 1, a few kB held."""
  import gzip
  import tracemalloc
  p = tmp_path / 'bomb_cb4.txt.gz'
  p.write_bytes(gzip.compress(b'1' * 20_000_000))
  tracemalloc.start()
  with pytest.raises(taiga_text.FormatError, match=r'bomb_cb4.txt.gz:1: line longer than 4096 bytes'):
    list(taiga_text.read_events(p))
  peak = tracemalloc.get_traced_memory()[1]
  tracemalloc.stop()
  assert peak < 2_000_000, peak
  # a long line inside a block too (the pixel lines are bounded like the header)
  p = _write(tmp_path, GOOD_HEAD + '\n1 1 0.000 0.000 5' + ' ' * 5000 + '\n1 2 3.000 0.000 1\n')
  with pytest.raises(taiga_text.FormatError, match=r'bad_cb4.txt:2: line longer than'):
    list(taiga_text.read_events(p))


@pytest.mark.parametrize('text,pattern', [
    # a header may not make the reader hold more than MAX_PIXELS pixel lines
    ('1 0 99999999 3.5 10 20 0 0 0 0 400\n', r':1: header announces n_pix=99999999 pixel lines, '
                                             r'more than the 10000'),
    # counters are stored as int32
    ('3000000000 0 0 3.5 10 20 0 0 0 0 400\n', r':1: n_shower must be a non-negative integer up '
                                              r'to 2147483647'),
    ('1 1e12 0 3.5 10 20 0 0 0 0 400\n', r':1: i_scat must be a non-negative integer up to'),
    # 4 + 6 fields are 10 numbers, but not two pixel lines
    (GOOD_HEAD + '\n1 1 0.000 0.000\n5 1 2 3.000 0.000 1\n', r':2: expected pixel line 1 of 2 .*'
                                                             r'got 4 fields'),
])
def test_headers_and_lines_beyond_what_a_file_may_hold(tmp_path, text, pattern):
  p = _write(tmp_path, text)
  with pytest.raises(taiga_text.FormatError, match='bad_cb4.txt' + pattern):
    for blk in taiga_text.read_events(p):
      blk.amplitudes(CAM)


@pytest.fixture
def alarm():
  """Fails a test that blocks (e.g. opening a FIFO) instead of hanging the suite."""
  from helpers import time_limit
  with time_limit(10, 'blocked: the reader waited on a file that is not a regular file'):
    yield


@pytest.mark.parametrize('kind', ['fifo', 'directory'])
def test_only_regular_files_are_read(tmp_path, kind, alarm):
  import os
  p = tmp_path / 'odd_cb4.txt'
  os.mkfifo(p) if kind == 'fifo' else p.mkdir()
  what = 'a FIFO' if kind == 'fifo' else 'a directory'
  with pytest.raises(taiga_text.FormatError, match=f'odd_cb4.txt: {what}.*, not a regular file'):
    list(taiga_text.read_events(p))
  with pytest.raises(taiga_text.FormatError, match='not a regular file'):
    list(hillas_csv.read_hillas_csv(p))
