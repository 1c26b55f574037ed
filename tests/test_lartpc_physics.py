"""Physics of the built-in LArTPC MC on a few thousand simulated particles (numpy only)."""
import math

import numpy as np
import pytest

from taiga_tf.detectors.lartpc.mc import physics as phys
from taiga_tf.detectors.lartpc.mc import simulate as sim

# PDG CSDA ranges in liquid argon (g/cm^2), as tabulated in LArSoft's TrackMomentumCalculator
# (pdg.lbl.gov AtomicNuclearProperties, muonloss_289 and the proton table)
MUON_KE = [10, 14, 20, 30, 40, 80, 100, 140, 200, 300, 400, 800, 1000]
MUON_RANGE = [0.9833, 1.786, 3.321, 6.598, 10.58, 30.84, 42.50, 67.32, 106.3, 172.5, 238.5, 493.4, 616.3]
PROTON_KE = [10, 15, 20, 30, 40, 80, 100, 150, 200, 250, 300, 350, 400]
PROTON_RANGE = [0.1887, 0.3823, 0.6335, 1.296, 2.159, 7.375, 10.92, 22.15, 36.27, 52.82, 71.44,
                91.84, 113.8]


def _deposits(cfg, n, seed=7):
  out = []
  for i in range(n):
    out.append(sim.simulate_deposits(cfg, sim.event_rng(seed, i)))
  return out


@pytest.mark.parametrize('particle,ke,table', [('muon', MUON_KE, MUON_RANGE),
                                               ('proton', PROTON_KE, PROTON_RANGE)])
def test_csda_range_matches_the_pdg_table(particle, ke, table):
  ours = phys.csda_range(ke, phys.MASS[particle]) * phys.DENSITY
  rel = ours / np.asarray(table) - 1
  assert np.abs(rel).max() < 0.025, rel           # 10 MeV protons: Bethe's low-energy limit
  assert np.abs(rel[np.asarray(ke) >= 30]).max() < 0.015, rel
  # minimum ionisation: 2.105 MeV/cm in liquid argon
  t = np.geomspace(50, 2000, 400)
  assert phys.dedx(t, phys.MASS['muon']).min() == pytest.approx(2.105, rel=0.01)


def test_stopping_tracks_have_the_csda_length():
  """Path length of stopping muons of fixed momentum = the CSDA range of the table."""
  for p in (150.0, 250.0):
    cfg = sim.LArTPCConfig(particle='muon', momentum_min=p, momentum_max=p, canvas=512,
                           start_spread_cm=0.0)
    lengths, chords = [], []
    for _, d, start, dep in _deposits(cfg, 30):
      prim = dep['primary']
      pts = np.stack([dep['x'][prim], dep['y'][prim], dep['z'][prim]], 1)
      seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
      lengths.append(seg.sum() + cfg.step_cm)            # midpoints: one step short
      chords.append(np.linalg.norm(pts[-1] - pts[0]))
    ke = phys.kinetic_from_momentum(p, phys.MASS['muon'])
    table = np.interp(ke, MUON_KE, MUON_RANGE) / phys.DENSITY
    assert np.mean(lengths) == pytest.approx(table, rel=0.03)
    # scattering makes the straight start-to-end distance a little shorter
    assert 0.85 < np.mean(chords) / np.mean(lengths) < 0.995


def test_bragg_peak_at_the_end_of_proton_tracks():
  cfg = sim.LArTPCConfig(particle='proton', momentum_min=400, momentum_max=600, canvas=512)
  res, dedx = [], []
  for _, _, _, dep in _deposits(cfg, 150):
    prim = dep['primary']
    res.append(dep['residual'][prim]), dedx.append(dep['dedx'][prim])
  res, dedx = np.concatenate(res), np.concatenate(dedx)
  edges = [0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
  means = [dedx[(res >= a) & (res < b)].mean() for a, b in zip(edges[:-1], edges[1:])]
  assert all(a > b for a, b in zip(means[:-1], means[1:])), means       # rises towards the end
  assert means[0] > 3 * means[-1]
  # away from the peak, the mean loss is Bethe-Bloch's at that residual range (+-15 %)
  for (a, b), m in zip(zip(edges[3:-1], edges[4:]), means[3:]):
    expect = phys.dedx(phys.kinetic_from_range(0.5 * (a + b), phys.MASS['proton']), phys.MASS['proton'])
    assert m == pytest.approx(expect, rel=0.15)


def test_scattering_angle_width_is_highland():
  p, x = 800.0, phys.X0_CM
  cfg = sim.LArTPCConfig(particle='muon', momentum_min=p, momentum_max=p, canvas=512,
                         start_spread_cm=0.0, delta_cut_mev=1e6)
  angles = []
  for _, d0, _, dep in _deposits(cfg, 600, seed=3):
    prim = dep['primary']
    pts = np.stack([dep['x'][prim], dep['y'][prim], dep['z'][prim]], 1)
    k = int(round(x / cfg.step_cm))
    if len(pts) <= k + 1:
      continue
    d = pts[k + 1] - pts[k]
    d /= np.linalg.norm(d)
    u = np.cross(d0, [0.0, 0.0, 1.0])
    u /= np.linalg.norm(u)
    angles.append(math.atan2(d @ u, d @ d0))
  angles = np.asarray(angles)
  assert len(angles) > 500
  ke = phys.kinetic_from_momentum(p, phys.MASS['muon'])
  p_mean, beta, _ = phys.kinematics(ke - 0.5 * x * 2.2, phys.MASS['muon'])
  theta0 = phys.highland_theta0(p_mean, beta, x)
  lo, hi = np.percentile(angles, [1, 99])
  core = angles[(angles > lo) & (angles < hi)]
  # the central 98 % of a Gaussian has an rms 0.88 of its sigma
  assert core.std() / 0.88 == pytest.approx(theta0, rel=0.1)


def _profile(e_mev, n, seed):
  cfg = sim.LArTPCConfig(particle='electron', momentum_min=e_mev, momentum_max=e_mev, canvas=2048,
                         start_spread_cm=0.0)
  depth, radial, weight = [], [], []
  for _, d, start, dep in _deposits(cfg, n, seed):
    rel = np.stack([dep['x'], dep['y'], dep['z']], 1) - start
    t = rel @ d
    depth.append(t / phys.X0_CM)
    radial.append(np.linalg.norm(rel - np.outer(t, d), axis=1))
    weight.append(dep['de'])
  return np.concatenate(depth), np.concatenate(radial), np.concatenate(weight)


def test_shower_maximum_grows_with_ln_energy_and_moliere_core():
  energies = np.array([100.0, 300.0, 1000.0])
  tmax, centroid, contained = [], [], []
  for e in energies:
    t, r, w = _profile(e, 25, seed=int(e))
    contained.append(w.sum() / 25 / e)
    centroid.append(np.average(t, weights=w))
    hist, edges = np.histogram(t, bins=np.arange(0, 20.5, 0.5), weights=w)
    smooth = np.convolve(hist, np.ones(3) / 3, mode='same')
    tmax.append(0.5 * (edges[np.argmax(smooth)] + edges[np.argmax(smooth) + 1]))
    if e == 300.0:
      inside = w[r < phys.MOLIERE_CM].sum() / w.sum()
      assert 0.8 < inside < 0.98, inside                # ~90 % within one Moliere radius
  # the depth grows as ln(E) (PDG: t_max = ln(E / Ec) - 0.5 for electrons): measured on the
  # energy-weighted centroid (robust with 25 showers), slope 1 per unit of ln(E)
  slope = np.polyfit(np.log(energies), centroid, 1)[0]
  assert 0.75 < slope < 1.3, (centroid, slope)
  expected = phys.shower_tmax(energies, photon=False)
  assert np.all(np.diff(tmax) > 0) and np.abs(np.asarray(tmax) - expected).max() < 1.5, (tmax, expected)
  assert min(contained) > 0.9                             # energy is conserved in the deposits


@pytest.mark.parametrize('particle', sim.PARTICLES)
def test_crops_are_sparse_and_labelled(particle):
  cfg = sim.LArTPCConfig(particle=particle)
  occ, labels = [], set()
  for ev in sim.generate(cfg, 40, seed=11):
    c, l = sim.crop(ev.charge, 64, ev.label)
    if (c > 0).any():
      occ.append((c > 0).mean())
      labels |= set(np.unique(l[c > 0]).tolist())
  assert 0.005 < np.median(occ) < 0.1, np.median(occ)     # a few per cent of the pixels
  main = sim.TRACK if particle in ('muon', 'pion', 'proton') else sim.SHOWER
  assert main in labels and (sim.SHOWER if main == sim.TRACK else sim.TRACK) not in labels


def test_deterministic_per_seed_and_index():
  cfg = sim.LArTPCConfig(particle='electron')
  a, b = sim.simulate_event(cfg, 5, 3), sim.simulate_event(cfg, 5, 3)
  np.testing.assert_array_equal(a.charge, b.charge)
  np.testing.assert_array_equal(a.label, b.label)
  c = sim.simulate_event(cfg, 5, 4)
  assert not np.array_equal(a.charge, c.charge)
  # events of a run do not depend on where the run starts
  assert np.array_equal(list(sim.generate(cfg, 2, 5, first=3))[0].charge, a.charge)


def test_crop_and_scale():
  img = np.zeros((128, 128), np.float32)
  img[100:104, 10:12] = 1.0
  c = sim.crop(img, 64)
  assert c.shape == (64, 64) and c.sum() == img.sum()      # clamped inside the image
  u = sim.to_uint8(np.array([0.0, 1.25, 2.5, 10.0]))
  assert u.tolist() == [0, 128, 255, 255] and u.dtype == np.uint8
