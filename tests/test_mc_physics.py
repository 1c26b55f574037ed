"""Physics of the built-in MC on a few thousand events (numpy only, no TF)."""
import math

import numpy as np
import pytest

from taiga_tf.detectors.taiga_iact import hillas
from taiga_tf.detectors.taiga_iact.camera import builtin_camera
from taiga_tf.detectors.taiga_iact.mc import simulate, telescope

CAM = builtin_camera()
TABLE = hillas.neighbour_table(CAM)
PAIRS = CAM.neighbors


def _fixed(particle, energy, distance, n_showers, seed, n_cores=4):
  """Signal images of showers of one energy seen from cores at one distance."""
  cfg = simulate.MCConfig(particle=particle)
  rng = np.random.default_rng([seed, int(energy * 100), int(distance)])
  images, trig = [], []
  for _ in range(n_showers):
    e, src, em = simulate.make_shower(rng, cfg, energy)
    for _ in range(n_cores):
      phi = rng.uniform(0, 2 * math.pi)
      sig = simulate.signal_image(rng, cfg, CAM, e, src, em,
                                  (distance * math.cos(phi), distance * math.sin(phi)))
      images.append(sig)
      trig.append(telescope.triggered(sig, PAIRS, cfg.telescope))
  return np.array(images), np.array(trig)


def _hillas(images):
  par, _ = hillas.clean_and_parametrize(CAM, images, 14, 7, True, (0.0, 0.0), TABLE)
  return par


@pytest.fixture(scope='module')
def spectrum_events():
  out = {}
  for p, n in (('gamma', 1500), ('proton', 1500)):
    cfg = simulate.MCConfig(particle=p, core_radius_m=300.0)
    evs = list(simulate.generate(cfg, n, seed=11, camera=CAM))
    amps = np.array([e.amplitudes for e in evs])
    out[p] = _hillas(amps)
  return out


def test_size_grows_in_proportion_to_energy():
  med = {}
  for e in (3.0, 10.0, 30.0):
    images, _ = _fixed('gamma', e, 100.0, 25, seed=1)
    med[e] = np.median(images.sum(1))
  r1, r2 = med[10.0] / med[3.0], med[30.0] / med[10.0]
  # E ratio 3.33 and 3: light grows ~ E (slightly faster: deeper showers)
  assert 2.3 < r1 < 4.8, med
  assert 2.1 < r2 < 4.5, med


def test_centroid_distance_grows_with_impact_distance():
  dist = []
  for d in (30.0, 120.0, 220.0):
    images, _ = _fixed('gamma', 10.0, d, 20, seed=2)
    par = _hillas(images)
    dist.append(np.nanmedian(par['dist']))
  assert dist[0] < dist[1] < dist[2], dist
  assert dist[2] - dist[0] > 0.8, dist   # degrees


def test_length_grows_with_impact_distance():
  length = []
  for d in (50.0, 220.0):
    images, _ = _fixed('gamma', 10.0, d, 20, seed=3)
    length.append(np.nanmedian(_hillas(images)['length']))
  assert length[1] > length[0], length


@pytest.mark.slow
def test_protons_wider_than_gammas_of_same_size(spectrum_events):
  g, p = spectrum_events['gamma'], spectrum_events['proton']
  edges = np.geomspace(60, 2000, 6)
  compared = 0
  for lo, hi in zip(edges[:-1], edges[1:]):
    mg = (g['size'] >= lo) & (g['size'] < hi) & np.isfinite(g['width'])
    mp = (p['size'] >= lo) & (p['size'] < hi) & np.isfinite(p['width'])
    if mg.sum() < 30 or mp.sum() < 30:
      continue
    compared += 1
    assert np.median(p['width'][mp]) > 1.15 * np.median(g['width'][mg]), (lo, hi)
  assert compared >= 3


@pytest.mark.slow
def test_point_source_alpha_peaks_at_zero(spectrum_events):
  g = spectrum_events['gamma']
  alpha = g['alpha'][np.isfinite(g['alpha']) & (g['size'] > 100)]
  hist, _ = np.histogram(alpha, bins=9, range=(0, 90))
  assert np.argmax(hist) == 0
  assert hist[0] > 3 * len(alpha) / 9      # far above a flat distribution
  p = spectrum_events['proton']
  pa = p['alpha'][np.isfinite(p['alpha']) & (p['size'] > 100)]
  ph, _ = np.histogram(pa, bins=9, range=(0, 90))
  assert ph[0] < 2 * len(pa) / 9           # protons: no peak at 0


def test_trigger_efficiency_rises_with_energy():
  eff = []
  for e in (1.2, 4.0, 20.0):
    cfg = simulate.MCConfig(particle='gamma', e_min_tev=e, e_max_tev=e * 1.0001, n_scat=5)
    n_trig = sum(len(simulate.simulate_shower(cfg, CAM, 5, n, PAIRS)) for n in range(1, 61))
    eff.append(n_trig / (60 * cfg.n_scat))
  assert eff[0] < eff[1] < eff[2], eff
  assert eff[0] < 0.3 and eff[2] > 0.4, eff


def test_deterministic_for_a_seed():
  cfg = simulate.MCConfig(particle='proton')
  a = simulate.simulate_shower(cfg, CAM, 3, 17, PAIRS)
  b = simulate.simulate_shower(cfg, CAM, 3, 17, PAIRS)
  assert len(a) == len(b)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x.amplitudes, y.amplitudes)
    assert x.header == y.header


def test_energy_spectrum_power_law():
  cfg = simulate.MCConfig(particle='gamma', spectral_index=2.0)
  e = simulate.sample_energy(np.random.default_rng(0), cfg, size=200000)
  assert e.min() >= 1.0 and e.max() <= 100.0
  # for E^-2, each decade holds 1/E weight: N(1-10) / N(10-100) = 10
  ratio = np.sum(e < 10) / np.sum(e >= 10)
  assert 9.0 < ratio < 11.0


def test_gamma_xmax_elongation_rate():
  xm = {}
  for e in (2.0, 20.0):
    cfg = simulate.MCConfig(particle='gamma')
    rng = np.random.default_rng(int(e))
    xm[e] = np.median([simulate.make_shower(rng, cfg, e)[2].xmax for _ in range(60)])
  # ~85 g/cm^2 per decade (Greisen / approximation B)
  assert 60 < xm[20.0] - xm[2.0] < 110, xm
