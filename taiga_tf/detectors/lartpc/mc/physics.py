"""Liquid-argon physics for the built-in LArTPC MC (numpy only, no TensorFlow).

Units: MeV, cm, g/cm^3, radians. Constants are the PDG's liquid-argon values
(pdg.lbl.gov AtomicNuclearProperties: density 1.396, I = 188 eV, Z/A = 0.4506,
X0 = 19.55 g/cm^2 = 14.0 cm, Moliere radius 9.04 cm, critical energy 32.84 MeV
for electrons, Sternheimer density-effect parameters), ionisation work W = 23.6 eV
and the modified Box recombination of ArgoNeuT.

- `dedx`: mean energy loss, Bethe-Bloch with the density effect (Sternheimer);
- `csda_range` / `kinetic_from_range`: the continuous-slowing-down range by
  integrating 1/(dE/dx); `tests/test_lartpc_physics.py` checks it against the PDG
  CSDA tables for muons and protons in liquid argon;
- `highland_theta0`: the multiple-scattering angle width;
- `moyal_factor`: a Landau-like (Moyal) fluctuation of the energy lost in a step,
  mean 1; `delta_ray_rate` / `sample_delta_energy`: knock-on electrons above a
  threshold (1/T^2 spectrum);
- `recombination_box`: the fraction of ionisation electrons that survive.
"""
from __future__ import annotations

import math

import numpy as np

DENSITY = 1.396          # g/cm^3
Z_OVER_A = 18.0 / 39.948
I_MEV = 188.0e-6
K_MEV = 0.307075         # MeV cm^2 / mol
ME = 0.51099895          # MeV
X0_CM = 14.0             # radiation length
MOLIERE_CM = 9.04
CRITICAL_MEV = 32.84     # electrons
W_ION_MEV = 23.6e-6      # energy per ionisation electron
# Sternheimer density-effect parameters of liquid argon
STERNHEIMER = {'a': 0.1956, 'k': 3.0, 'x0': 0.2, 'x1': 3.0, 'cbar': 5.2146, 'delta0': 0.0}
MASS = {'muon': 105.6584, 'pion': 139.5704, 'proton': 938.2721, 'electron': ME, 'photon': 0.0}
CHARGED_TRACKS = ('muon', 'pion', 'proton')
SHOWERS = ('electron', 'photon')


def kinematics(kinetic, mass):
  """(momentum, beta, gamma) of kinetic energy T (MeV) for the mass (MeV)."""
  t = np.asarray(kinetic, np.float64)
  gamma = 1.0 + t / mass
  beta = np.sqrt(np.maximum(1.0 - 1.0 / gamma ** 2, 1e-12))
  return gamma * beta * mass, beta, gamma


def kinetic_from_momentum(p, mass):
  return np.sqrt(np.asarray(p, np.float64) ** 2 + mass ** 2) - mass


def _density_effect(bg):
  s = STERNHEIMER
  x = np.log10(bg)
  d = np.where(x >= s['x1'], 2 * np.log(10) * x - s['cbar'],
               np.where(x >= s['x0'], 2 * np.log(10) * x - s['cbar'] + s['a'] * (s['x1'] - x) ** s['k'],
                        s['delta0'] * 10 ** (2 * (x - s['x0']))))
  return d


def t_max(kinetic, mass):
  """Largest energy a collision can give an electron (MeV)."""
  _, beta, gamma = kinematics(kinetic, mass)
  bg2 = (beta * gamma) ** 2
  return 2 * ME * bg2 / (1 + 2 * gamma * ME / mass + (ME / mass) ** 2)


def dedx(kinetic, mass, t_cut=None):
  """Mean energy loss (MeV/cm) of a heavy charged particle; restricted to
  knock-on energies below t_cut when given (the rest is simulated as delta rays)."""
  _, beta, gamma = kinematics(kinetic, mass)
  bg = beta * gamma
  tm = t_max(kinetic, mass)
  delta = _density_effect(bg)
  if t_cut is None:
    bracket = 0.5 * np.log(2 * ME * bg ** 2 * tm / I_MEV ** 2) - beta ** 2 - delta / 2
  else:
    tu = np.minimum(t_cut, tm)
    bracket = (0.5 * np.log(2 * ME * bg ** 2 * tu / I_MEV ** 2)
               - beta ** 2 / 2 * (1 + tu / tm) - delta / 2)
  return np.maximum(K_MEV * Z_OVER_A / beta ** 2 * bracket, 0.0) * DENSITY


def electron_dedx(kinetic):
  """Collision loss of electrons (MeV/cm): the Bethe formula for electrons, simplified
  (Rohrlich-Carlson without the small terms); about 2.1 MeV/cm above 1 MeV."""
  t = np.maximum(np.asarray(kinetic, np.float64), 1e-3)
  _, beta, gamma = kinematics(t, ME)
  tau = t / ME
  f = 1 - beta ** 2 + (tau ** 2 / 8 - (2 * tau + 1) * math.log(2)) / (tau + 1) ** 2
  bracket = np.log(tau ** 2 * (tau + 2) / (2 * (I_MEV / ME) ** 2)) + f - _density_effect(beta * gamma)
  return np.maximum(K_MEV / 2 * Z_OVER_A / beta ** 2 * bracket, 0.5) * DENSITY


# the range tables, integrated once per mass on a log grid of kinetic energy
_GRID = np.geomspace(1e-3, 1e5, 3000)
_RANGE_CACHE: dict = {}


def _range_table(mass):
  key = round(mass, 6)
  if key not in _RANGE_CACHE:
    loss = electron_dedx(_GRID) if mass == ME else dedx(_GRID, mass)
    # Below the Bragg peak's energy Bethe's formula fails (it falls to zero): there
    # the stopping power is taken proportional to the velocity (Lindhard), a range of
    # well under a millimetre whatever its form.
    peak = int(np.argmax(loss))
    low = np.arange(len(_GRID)) < peak
    loss = np.where(low, loss[peak] * np.sqrt(_GRID / _GRID[peak]), loss)
    inv = 1.0 / loss
    r = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(_GRID))])
    _RANGE_CACHE[key] = r
  return _RANGE_CACHE[key]


def csda_range(kinetic, mass):
  """CSDA range (cm) of a particle of kinetic energy T (MeV)."""
  return np.interp(np.log(np.asarray(kinetic, np.float64)), np.log(_GRID), _range_table(mass))


def kinetic_from_range(residual_range, mass):
  """Inverse of csda_range: the kinetic energy with this residual range (cm)."""
  return np.exp(np.interp(np.asarray(residual_range, np.float64), _range_table(mass), np.log(_GRID)))


def highland_theta0(p, beta, x_cm, charge=1.0):
  """Width of the projected scattering angle after x_cm of argon (PDG, Highland/Lynch-Dahl)."""
  x = np.maximum(np.asarray(x_cm, np.float64) / X0_CM, 1e-12)
  return 13.6 / (beta * p) * abs(charge) * np.sqrt(x) * (1 + 0.038 * np.log(x * charge ** 2 / beta ** 2))


def moyal_factor(rng, n, width):
  """n fluctuation factors of the energy lost in a step, mean 1, Landau-like tail.

  A Moyal variate, -ln(Z^2) with Z ~ N(0, 1), scaled by `width` (the Landau
  xi over the step's mean loss, capped) around its mean and clipped at 0 so the
  loss is never negative; the long tail is what a Landau straggling curve has."""
  z = rng.standard_normal(n)
  m = -np.log(np.maximum(z ** 2, 1e-300))
  mean = math.log(2) + 0.5772156649          # E[-ln Z^2] = ln 2 + Euler's gamma
  return np.maximum(1.0 + width * (m - mean), 0.0)


def landau_xi(beta, x_cm):
  """Landau's xi (MeV) for a step: the scale of its energy-loss fluctuations."""
  return K_MEV / 2 * Z_OVER_A * DENSITY * x_cm / beta ** 2


def delta_ray_rate(kinetic, mass, t_cut):
  """Knock-on electrons above t_cut per cm (the 1/T^2 spectrum up to t_max)."""
  _, beta, _ = kinematics(kinetic, mass)
  tm = t_max(kinetic, mass)
  return np.where(tm > t_cut, K_MEV / 2 * Z_OVER_A * DENSITY / beta ** 2 * (1 / t_cut - 1 / tm), 0.0)


def sample_delta_energy(rng, t_cut, tm):
  """Kinetic energy of a knock-on electron from dN/dT ~ 1/T^2 on [t_cut, tm]."""
  u = rng.random()
  return 1.0 / (1.0 / t_cut - u * (1.0 / t_cut - 1.0 / tm))


def recombination_box(dedx_mev_cm, field_kv_cm=0.5, alpha=0.93, beta_box=0.212):
  """Fraction of ionisation electrons escaping recombination (modified Box, ArgoNeuT)."""
  xi = beta_box * np.asarray(dedx_mev_cm, np.float64) / (DENSITY * field_kv_cm)
  xi = np.maximum(xi, 1e-6)
  return np.log(alpha + xi) / xi


def pair_conversion_length():
  """Mean free path of a high-energy photon before pair conversion: 9/7 X0 (cm)."""
  return 9.0 / 7.0 * X0_CM


def shower_tmax(energy, photon: bool):
  """Depth of the shower maximum in radiation lengths (PDG: ln(E/Ec) - 0.5 or + 0.5)."""
  return np.log(np.asarray(energy, np.float64) / CRITICAL_MEV) + (0.5 if photon else -0.5)
