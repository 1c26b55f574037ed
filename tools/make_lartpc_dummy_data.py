"""Regenerates datasets/lartpc/dummy_data (small files in the real formats).

  python tools/make_lartpc_dummy_data.py

- `lartpc_dummy_events.h5`: a larcv3 file from the built-in LArTPC MC (6 events of each
  particle type on a 128 x 128 canvas, sparse2d `data` and `label`, truth rows);
- `larcv_png_64_{train,test}_{tracks,showers}.npy`: uint8 arrays in the reference
  work's layouts (train tracks (N, 64, 64), train showers (N, 64, 64, 1), test
  tracks (N, 64, 64, 3), test showers (N, 64, 64)), made from MC crops.
Prints the per-split counts the builder tests expect.
"""
import pathlib
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'datasets'))

from lartpc import lartpc_dataset_builder as lb  # noqa: E402
from taiga_tf.detectors.lartpc.formats import larcv3  # noqa: E402
from taiga_tf.detectors.lartpc.mc import simulate  # noqa: E402

N_PER_PARTICLE = 6
OUT = REPO / 'datasets' / 'lartpc' / 'dummy_data'


def main():
  OUT.mkdir(parents=True, exist_ok=True)
  path = OUT / 'lartpc_dummy_events.h5'
  counts = {s: 0 for s, _ in lb.SPLIT_FRACTIONS}
  with larcv3.Larcv3Writer(path, simulate.PRODUCERS, truth_dtype=simulate.TRUTH_DTYPE) as w:
    for p in simulate.PARTICLES:
      cfg = simulate.LArTPCConfig(particle=p, canvas=128)
      for i in range(N_PER_PARTICLE):
        ev = simulate.simulate_event(cfg, 7, i)
        origin = (-cfg.half_cm, -cfg.half_cm)
        k = w.n_events
        w.add_event((7, simulate.PDG[p], i),
                    {'data': [larcv3.sparse_projection(ev.charge, 0, cfg.pixel_cm, origin)],
                     'label': [larcv3.sparse_projection(ev.label.astype(np.float32), 0, cfg.pixel_cm,
                                                        origin)]},
                    truth=(simulate.PDG[p], ev.momentum, ev.direction, ev.start, ev.drift_cm))
        if lb.crop_and_keep(ev.charge, ev.label, 64, 0.01) is not None:
          counts[lb._split_of(f'{path.name}/{k}')] += 1
  print('larcv3 config splits:', counts)

  layouts = {('train', 'tracks'): None, ('train', 'showers'): 1, ('test', 'tracks'): 3,
             ('test', 'showers'): None}
  n = {'train': 8, 'test': 3}
  npy_counts = {'train': 0, 'validation': 0, 'test': 0}
  for (split, kind), ch in layouts.items():
    parts = ('muon', 'proton') if kind == 'tracks' else ('electron', 'photon')
    imgs, i = [], 0
    while len(imgs) < n[split]:
      ev = simulate.simulate_event(simulate.LArTPCConfig(particle=parts[i % 2]), 11 if split == 'train' else 12, i)
      i += 1
      kept = lb.crop_and_keep(ev.charge, ev.label, 64, 0.01)
      if kept is not None:
        imgs.append(simulate.to_uint8(kept[0]))
    arr = np.stack(imgs)
    if ch is not None:
      arr = np.repeat(arr[..., None], ch, axis=3)
    name = f'larcv_png_64_{split}_{kind}.npy'
    np.save(OUT / name, arr)
    for j in range(len(arr)):
      if split == 'test':
        npy_counts['test'] += 1
      else:
        npy_counts['validation' if lb._split_of(f'{name}/{j}') == 'validation' else 'train'] += 1
  print('npy config splits:', npy_counts)


if __name__ == '__main__':
  main()
