"""What deliberately wrong "generated" sets say of each measure of a report.

A fidelity measure is evidence only if it can see a bad generator. Each detector's
report builds, from MC events it never compares against (another split), the
failures a generator can have (TAIGA-IACT: taiga_tf.evaluation.taiga_iact.wrong_sets, LArTPC:
taiga_tf.evaluation.lartpc.wrong_sets),
always including

  mc              the MC itself: the null, what "as good as the MC" scores
  other_particle  the other particle's (or class's) MC labelled as this one
  noise           Gaussian noise with the MC's per-pixel mean and std

`detections` compares each wrong set's measure with the null's: a set is
detected when the lower end of its bootstrap interval lies above the upper end
of the null's (every measure is oriented so that larger is worse). A measure
that misses `noise` or `other_particle` is marked in a report as no evidence.
"""
from __future__ import annotations

import numpy as np

REQUIRED = ('noise', 'other_particle')     # a measure blind to either is not evidence


def required(calibration: dict | None, measure: str) -> tuple:
  """The sets a measure must see to be evidence: REQUIRED, unless the calibration names
  others for it (`required_by_measure`, e.g. a memorisation check must see copies of
  training images, not bad images)."""
  return tuple((calibration or {}).get('required_by_measure', {}).get(measure, REQUIRED))


def detections(measures_by_set: dict) -> dict:
  """{measure: {set: detected}} from {set: {measure: {'value', 'ci'}}} (null = 'mc')."""
  null = measures_by_set['mc']
  out = {}
  for m, v0 in null.items():
    hi0 = v0['ci'][1] if np.isfinite(v0['ci'][1]) else v0['value']
    out[m] = {}
    for s, ms in measures_by_set.items():
      if s == 'mc' or m not in ms:
        continue
      lo = ms[m]['ci'][0] if np.isfinite(ms[m]['ci'][0]) else ms[m]['value']
      out[m][s] = bool(np.isfinite(lo) and np.isfinite(hi0) and lo > hi0)
  return out


def mark(measures: dict, calibration: dict | None, particle: str) -> None:
  """Adds 'evidence' (True / False / None = not calibrated) and 'misses' to each measure."""
  det = (calibration or {}).get('detections', {}).get(particle)
  for m, v in measures.items():
    if det is None or m not in det:
      v['evidence'], v['misses'] = None, None
      continue
    v['misses'] = sorted(s for s, hit in det[m].items() if not hit)
    v['evidence'] = all(det[m].get(s, False) for s in required(calibration, m))


def table(calibration: dict, particle: str) -> str:
  """Markdown: each measure against each wrong set (value, * = told apart from the null)."""
  meas = calibration['measures'][particle]
  sets = ['mc'] + [s for s in meas if s != 'mc']     # the null, then in the report's order
  det = calibration['detections'][particle]
  rows = ['| measure | ' + ' | '.join(sets) + ' | evidence |',
          '|---|' + '---|' * (len(sets) + 1)]
  for m in meas['mc']:
    cells = []
    for s in sets:
      v = meas[s].get(m, {}).get('value', float('nan'))
      star = '' if s == 'mc' else (' *' if det[m].get(s) else '')
      cells.append(f'{v:.3g}{star}')
    ev = 'yes' if all(det[m].get(s, False) for s in required(calibration, m)) else 'no'
    rows.append(f'| {m} | ' + ' | '.join(cells) + f' | {ev} |')
  return '\n'.join(rows)


def figure(out: str, cal: dict, particle: str) -> str:
  """PNG: each measure against each wrong set (in the calibration's order), in units of
  the null's interval: how far off; returns its path."""
  import os  # pylint: disable=g-import-not-at-top
  from taiga_tf.plotting import pyplot  # pylint: disable=g-import-not-at-top
  plt = pyplot()
  meas = cal['measures'][particle]
  sets = [s for s in meas if s != 'mc']
  names = list(meas['mc'])
  z = np.full((len(names), len(sets)), np.nan)
  for i, m in enumerate(names):
    v0 = meas['mc'][m]
    half = max((v0['ci'][1] - v0['ci'][0]) / 2, 1e-12)
    for j, s in enumerate(sets):
      if m in meas[s]:
        z[i, j] = (meas[s][m]['value'] - v0['value']) / half
  fig, ax = plt.subplots(figsize=(1.3 * len(sets) + 3, 0.38 * len(names) + 1.5))
  im = ax.imshow(np.clip(np.nan_to_num(z), -2, 20), cmap='magma_r', aspect='auto', vmin=-2, vmax=20)
  det = cal['detections'][particle]
  for i, m in enumerate(names):
    for j, s in enumerate(sets):
      ax.text(j, i, 'seen' if det[m].get(s) else '-', ha='center', va='center', fontsize=7,
              color='w' if np.nan_to_num(z[i, j]) > 10 else 'k')
  blind = [m for m in names if not all(det[m].get(s, False) for s in required(cal, m))]
  ax.set_yticks(range(len(names)), [m + ('  (no evidence)' if m in blind else '') for m in names],
                fontsize=8)
  ax.set_xticks(range(len(sets)), sets, rotation=30, ha='right', fontsize=8)
  fig.colorbar(im, ax=ax, label='(wrong - null) / half-width of the null interval')
  ax.set_title(f'calibration, {particle}s: what each measure sees', fontsize=10)
  fig.tight_layout()
  path = os.path.join(out, f'calibration_{particle}.png')
  fig.savefig(path, dpi=80)
  plt.close(fig)
  return path
