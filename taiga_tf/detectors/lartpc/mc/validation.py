"""Physics checks of the built-in LArTPC MC: each a measurement on simulated particles.

Shared by tests/test_lartpc_physics.py (which asserts on them) and
`python -m taiga_tf.detectors.lartpc.mc.validation` (which prints them, the
numbers the README quotes). Numpy only; deterministic (fixed seeds).
"""
from __future__ import annotations

import math

import numpy as np

from taiga_tf.detectors.lartpc.mc import physics as phys
from taiga_tf.detectors.lartpc.mc import simulate as sim

# PDG CSDA ranges in liquid argon (g/cm^2) as tabulated in LArSoft's TrackMomentumCalculator
# (pdg.lbl.gov AtomicNuclearProperties: muonloss_289 and the proton table)
MUON_KE = [10, 14, 20, 30, 40, 80, 100, 140, 200, 300, 400, 800, 1000]
MUON_RANGE = [0.9833, 1.786, 3.321, 6.598, 10.58, 30.84, 42.50, 67.32, 106.3, 172.5, 238.5, 493.4, 616.3]
PROTON_KE = [10, 15, 20, 30, 40, 80, 100, 150, 200, 250, 300, 350, 400]
PROTON_RANGE = [0.1887, 0.3823, 0.6335, 1.296, 2.159, 7.375, 10.92, 22.15, 36.27, 52.82, 71.44,
                91.84, 113.8]
TABLES = {'muon': (MUON_KE, MUON_RANGE), 'proton': (PROTON_KE, PROTON_RANGE)}
BRAGG_EDGES = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


def deposits(cfg: sim.LArTPCConfig, n: int, seed: int = 7):
  return [sim.simulate_deposits(cfg, sim.event_rng(seed, i)) for i in range(n)]


def _primary_points(dep):
  prim = dep['primary']
  return np.stack([dep['x'][prim], dep['y'][prim], dep['z'][prim]], 1)


def csda_vs_table(particle: str) -> dict:
  """Relative difference of the integrated CSDA range from the PDG table, per kinetic energy."""
  ke, table = TABLES[particle]
  ours = phys.csda_range(ke, phys.MASS[particle]) * phys.DENSITY
  return {'kinetic_mev': list(ke), 'rel_diff': (ours / np.asarray(table) - 1).tolist()}


def minimum_ionisation() -> float:
  return float(phys.dedx(np.geomspace(50, 2000, 400), phys.MASS['muon']).min())


def stopping_muon_lengths(momenta=(150.0, 250.0), n: int = 30) -> list[dict]:
  """Mean path length of stopping muons of fixed momentum and the table's CSDA range (cm)."""
  out = []
  for p in momenta:
    cfg = sim.LArTPCConfig(particle='muon', momentum_min=p, momentum_max=p, canvas=512,
                           start_spread_cm=0.0)
    lengths, chords = [], []
    for _, _, _, dep in deposits(cfg, n):
      pts = _primary_points(dep)
      lengths.append(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum() + cfg.step_cm)  # midpoints
      chords.append(np.linalg.norm(pts[-1] - pts[0]))
    ke = phys.kinetic_from_momentum(p, phys.MASS['muon'])
    out.append({'momentum': p, 'mean_length_cm': float(np.mean(lengths)),
                'table_cm': float(np.interp(ke, MUON_KE, MUON_RANGE) / phys.DENSITY),
                'chord_over_length': float(np.mean(chords) / np.mean(lengths))})
  return out


def bragg_profile(n: int = 150) -> dict:
  """Mean dE/dx of stopping protons (400-600 MeV/c) in residual-range bins, and Bethe-Bloch's."""
  cfg = sim.LArTPCConfig(particle='proton', momentum_min=400, momentum_max=600, canvas=512)
  res, dedx = [], []
  for _, _, _, dep in deposits(cfg, n):
    prim = dep['primary']
    res.append(dep['residual'][prim]), dedx.append(dep['dedx'][prim])
  res, dedx = np.concatenate(res), np.concatenate(dedx)
  e = BRAGG_EDGES
  means = [float(dedx[(res >= a) & (res < b)].mean()) for a, b in zip(e[:-1], e[1:])]
  bethe = [float(phys.dedx(phys.kinetic_from_range(0.5 * (a + b), phys.MASS['proton']),
                           phys.MASS['proton'])) for a, b in zip(e[:-1], e[1:])]
  return {'edges_cm': list(e), 'mean_dedx': means, 'bethe_dedx': bethe}


def highland_ratio(p: float = 800.0, n: int = 600) -> dict:
  """Projected scattering angle of muons after one X0 (central 98 %), against Highland."""
  x = phys.X0_CM
  cfg = sim.LArTPCConfig(particle='muon', momentum_min=p, momentum_max=p, canvas=512,
                         start_spread_cm=0.0, delta_cut_mev=1e6)
  angles = []
  for _, d0, _, dep in deposits(cfg, n, seed=3):
    pts = _primary_points(dep)
    k = int(round(x / cfg.step_cm))
    if len(pts) <= k + 1:
      continue
    d = pts[k + 1] - pts[k]
    d /= np.linalg.norm(d)
    u = np.cross(d0, [0.0, 0.0, 1.0])
    u /= np.linalg.norm(u)
    angles.append(math.atan2(d @ u, d @ d0))
  angles = np.asarray(angles)
  ke = phys.kinetic_from_momentum(p, phys.MASS['muon'])
  p_mean, beta, _ = phys.kinematics(ke - 0.5 * x * 2.2, phys.MASS['muon'])
  theta0 = float(phys.highland_theta0(p_mean, beta, x))
  lo, hi = np.percentile(angles, [1, 99])
  core = angles[(angles > lo) & (angles < hi)]
  width = float(core.std() / 0.88)     # the central 98 % of a Gaussian has an rms 0.88 sigma
  return {'n': int(len(angles)), 'highland_rad': theta0, 'measured_rad': width,
          'ratio': width / theta0}


def shower_profile(energy: float, n: int = 25, seed: int | None = None) -> dict:
  """Electron showers of fixed energy: depth of the peak and centroid (X0), Moliere containment."""
  cfg = sim.LArTPCConfig(particle='electron', momentum_min=energy, momentum_max=energy, canvas=2048,
                         start_spread_cm=0.0)
  depth, radial, weight = [], [], []
  for _, d, start, dep in deposits(cfg, n, int(energy) if seed is None else seed):
    rel = np.stack([dep['x'], dep['y'], dep['z']], 1) - start
    t = rel @ d
    depth.append(t / phys.X0_CM), radial.append(np.linalg.norm(rel - np.outer(t, d), axis=1))
    weight.append(dep['de'])
  t, r, w = np.concatenate(depth), np.concatenate(radial), np.concatenate(weight)
  hist, edges = np.histogram(t, bins=np.arange(0, 20.5, 0.5), weights=w)
  smooth = np.convolve(hist, np.ones(3) / 3, mode='same')
  k = int(np.argmax(smooth))
  return {'energy': energy, 'peak_x0': float(0.5 * (edges[k] + edges[k + 1])),
          'centroid_x0': float(np.average(t, weights=w)),
          'pdg_tmax_x0': float(phys.shower_tmax(energy, photon=False)),
          'within_moliere': float(w[r < phys.MOLIERE_CM].sum() / w.sum()),
          'contained_fraction': float(w.sum() / n / energy)}


def crop_occupancy(particle: str, n: int = 40, seed: int = 11) -> dict:
  """Median fraction of non-zero pixels of the 64 x 64 crops, and the labels seen."""
  occ, labels = [], set()
  for ev in sim.generate(sim.LArTPCConfig(particle=particle), n, seed=seed):
    c, l = sim.crop(ev.charge, 64, ev.label)
    if (c > 0).any():
      occ.append(float((c > 0).mean()))
      labels |= set(np.unique(l[c > 0]).tolist())
  return {'median': float(np.median(occ)), 'labels': sorted(labels)}


def main():
  for p in ('muon', 'proton'):
    c = csda_vs_table(p)
    print(f'CSDA range vs PDG, {p}: max |rel. diff| {np.abs(c["rel_diff"]).max():.4f}, '
          f'above 30 MeV {max(abs(r) for k, r in zip(c["kinetic_mev"], c["rel_diff"]) if k >= 30):.4f}')
  print(f'minimum ionisation: {minimum_ionisation():.3f} MeV/cm')
  for r in stopping_muon_lengths():
    print(f'stopping muons {r["momentum"]:.0f} MeV/c: path {r["mean_length_cm"]:.2f} cm, table '
          f'{r["table_cm"]:.2f} cm, chord/path {r["chord_over_length"]:.3f}')
  b = bragg_profile()
  print('Bragg: mean dE/dx by residual range ' + ', '.join(
      f'{a:g}-{c:g} cm {m:.1f} (Bethe {t:.1f})' for a, c, m, t in
      zip(b['edges_cm'][:-1], b['edges_cm'][1:], b['mean_dedx'], b['bethe_dedx'])) + ' MeV/cm')
  h = highland_ratio()
  print(f'Highland: {h["measured_rad"] * 1e3:.2f} mrad measured, {h["highland_rad"] * 1e3:.2f} mrad '
        f'expected, ratio {h["ratio"]:.3f} ({h["n"]} muons)')
  for e in (100.0, 300.0, 1000.0):
    s = shower_profile(e)
    print(f'electron showers {e:.0f} MeV: peak {s["peak_x0"]:.2f} X0 (PDG {s["pdg_tmax_x0"]:.2f}), '
          f'centroid {s["centroid_x0"]:.2f} X0, within R_M {s["within_moliere"]:.3f}, '
          f'contained {s["contained_fraction"]:.3f}')
  for p in sim.PARTICLES:
    o = crop_occupancy(p)
    print(f'64x64 crop occupancy, {p}: median {o["median"]:.4f}, labels {o["labels"]}')


if __name__ == '__main__':
  main()
