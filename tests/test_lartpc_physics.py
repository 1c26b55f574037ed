"""Physics of the built-in LArTPC MC on a few thousand simulated particles (numpy only).

The measurements live in taiga_tf/detectors/lartpc/mc/validation.py (which also
prints them: `python -m taiga_tf.detectors.lartpc.mc.validation`); here they are asserted.
"""
import numpy as np
import pytest

from taiga_tf.detectors.lartpc.mc import physics as phys
from taiga_tf.detectors.lartpc.mc import simulate as sim
from taiga_tf.detectors.lartpc.mc import validation as val


@pytest.mark.parametrize('particle', ['muon', 'proton'])
def test_csda_range_matches_the_pdg_table(particle):
  c = val.csda_vs_table(particle)
  rel, ke = np.asarray(c['rel_diff']), np.asarray(c['kinetic_mev'])
  assert np.abs(rel).max() < 0.025, rel           # 10 MeV protons: Bethe's low-energy limit
  assert np.abs(rel[ke >= 30]).max() < 0.015, rel
  assert val.minimum_ionisation() == pytest.approx(2.105, rel=0.01)   # MeV/cm in liquid argon


def test_stopping_tracks_have_the_csda_length():
  """Path length of stopping muons of fixed momentum = the CSDA range of the table."""
  for r in val.stopping_muon_lengths():
    assert r['mean_length_cm'] == pytest.approx(r['table_cm'], rel=0.03)
    # scattering makes the straight start-to-end distance a little shorter
    assert 0.85 < r['chord_over_length'] < 0.995


def test_bragg_peak_at_the_end_of_proton_tracks():
  b = val.bragg_profile()
  means = b['mean_dedx']
  assert all(a > c for a, c in zip(means[:-1], means[1:])), means       # rises towards the end
  assert means[0] > 3 * means[-1]
  # away from the peak (residual range 2-20 cm) the mean loss is Bethe-Bloch's (+-15 %)
  for m, t in zip(means[3:], b['bethe_dedx'][3:]):
    assert m == pytest.approx(t, rel=0.15)


def test_scattering_angle_width_is_highland():
  h = val.highland_ratio()
  assert h['n'] > 500
  assert h['ratio'] == pytest.approx(1.0, abs=0.1)


def test_shower_maximum_grows_with_ln_energy_and_moliere_core():
  energies = np.array([100.0, 300.0, 1000.0])
  prof = [val.shower_profile(e) for e in energies]
  # the depth grows as ln(E) (PDG: t_max = ln(E / Ec) - 0.5 for electrons): measured on the
  # energy-weighted centroid (robust with 25 showers), slope 1 per unit of ln(E)
  slope = np.polyfit(np.log(energies), [p['centroid_x0'] for p in prof], 1)[0]
  assert 0.75 < slope < 1.3, (prof, slope)
  peaks = np.array([p['peak_x0'] for p in prof])
  assert np.all(np.diff(peaks) > 0) and np.abs(peaks - [p['pdg_tmax_x0'] for p in prof]).max() < 1.5
  assert 0.8 < prof[1]['within_moliere'] < 0.98           # ~90 % within one Moliere radius
  assert min(p['contained_fraction'] for p in prof) > 0.9  # energy is conserved in the deposits


@pytest.mark.parametrize('particle', sim.PARTICLES)
def test_crops_are_sparse_and_labelled(particle):
  o = val.crop_occupancy(particle)
  assert 0.005 < o['median'] < 0.1, o                     # a few per cent of the pixels
  main = sim.TRACK if particle in ('muon', 'pion', 'proton') else sim.SHOWER
  assert main in o['labels'] and (sim.SHOWER if main == sim.TRACK else sim.TRACK) not in o['labels']


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
  assert phys.X0_CM == 14.0 and phys.MOLIERE_CM == pytest.approx(9.04)


def test_electron_step_without_ionisation_loss_ends_the_electron():
  # pion event 3489 of seed 1 (the `simulated` config's run): a delta-ray electron's
  # straggling factor is 0 on one step and a bremsstrahlung photon takes the rest of its
  # energy; the electron must stop there (it divided by a zero momentum before)
  _, _, _, dep = sim.simulate_deposits(sim.LArTPCConfig(particle='pion'), sim.event_rng(1, 3489))
  assert len(dep['de']) > 0
  for k in ('x', 'y', 'z', 'de', 'dedx'):
    assert np.isfinite(dep[k]).all(), k
  assert (dep['de'] >= 0).all()
