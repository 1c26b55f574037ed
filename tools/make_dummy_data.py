"""Regenerates datasets/taiga_iact/dummy_data (small files in the chain's text format).

  python tools/make_dummy_data.py

gamma/: a `_c.txt` file (signal only, pixels with non-zero amplitude) and its
`_cb4.txt` partner (the same events, every pixel, NSB added): the builder reads
the events from `_cb4` and their signal images from `_c`;
proton/: a `_cb4.txt` file alone (no signal images), all from the built-in MC
with fixed seeds. Prints the per-split counts the builder test expects.
"""
import os
import pathlib
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'datasets'))

from taiga_tf.detectors.taiga_iact.camera import builtin_camera  # noqa: E402
from taiga_tf.detectors.taiga_iact.formats import taiga_text  # noqa: E402
from taiga_tf.detectors.taiga_iact.mc import simulate  # noqa: E402
from taiga_iact.taiga_iact_dataset_builder import _split_of  # noqa: E402

OUT = REPO / 'datasets' / 'taiga_iact' / 'dummy_data'


def main():
  cam = builtin_camera()
  specs = [('gamma', 40, [('iact29_gamma_c.txt', 'signal'), ('iact29_gamma_cb4.txt', 'amplitudes')]),
           ('proton', 30, [('iact01_proton_cb4.txt', 'amplitudes')])]
  for particle, n, files in specs:
    cfg = simulate.MCConfig(particle=particle, core_radius_m=250.0, n_scat=2)
    events = list(simulate.generate(cfg, n, seed=7, camera=cam))
    os.makedirs(OUT / particle, exist_ok=True)
    for fname, field in files:
      blocks = []
      for ev in events:
        a = np.round(getattr(ev, field), 2)
        keep = a > 0 if field == 'signal' else np.ones(cam.n_pixels, bool)
        blocks.append((ev.header, taiga_text.pixel_lines(cam, a, keep=keep)))
      taiga_text.write_blocks(OUT / particle / fname, blocks)
    counts = {}
    for ev in events:
      s = _split_of(particle, files[-1][0], ev.header['n_shower'])
      counts[s] = counts.get(s, 0) + 1
    print(particle, files[-1][0], len(events), counts)


if __name__ == '__main__':
  main()
