"""Air-shower physics of the built-in MC: atmosphere, cascades, Cherenkov light.

Plain vectorised numpy. Coordinates: ground frame with x east, y north, z up,
metres, z = 0 at the observation level (Tunka valley, 675 m a.s.l.), telescope at
the origin. A (sub-)shower is a straight axis through a start point P0 with an
upward unit vector u (pointing back to where the particle came from); the
shower travels along -u.

Models (textbook approximations, chosen to reproduce the features the
generative models must learn, not a CORSIKA replacement):
- isothermal exponential atmosphere, n - 1 proportional to density;
- electromagnetic cascades: Greisen's longitudinal profile with Rossi's
  approximation-B maximum (elongation rate ~85 g/cm^2 per decade);
- hadronic cascades: a branching model of inelastic interactions (interaction
  lengths 80 / 120 g/cm^2 for nucleons / pions, inelasticity 0.3-0.8, about a
  third of the secondary energy into pi0 -> gamma gamma sub-showers with
  p_T ~ 0.3 GeV/c), giving deeper, fluctuating, laterally spread light;
- Cherenkov emission: yield 2 pi alpha sin^2(theta_c) (1/l1 - 1/l2) over
  300-600 nm for electrons above threshold; photon directions around the
  emitter's axis follow a ring at theta_c (collimated electrons) plus an
  exponential tail (scattered electrons, Nerling et al. 2006 form).
"""
from __future__ import annotations

import dataclasses

import numpy as np

H_OBS_M = 675.0            # observation level, m a.s.l. (Tunka valley)
SCALE_HEIGHT_M = 8400.0    # isothermal atmosphere
X_SEA = 1033.0             # vertical depth at sea level, g/cm^2
N_MINUS_1_SEA = 2.9e-4     # refractive index - 1 at sea level
X0_RAD = 36.7              # radiation length of air, g/cm^2
E_CRIT_TEV = 85e-6         # critical energy of air, TeV
ALPHA = 1.0 / 137.036
LAMBDA1_M, LAMBDA2_M = 300e-9, 600e-9
ELECTRON_MEV = 0.511
MUON_GEV = 0.1057


# ------------------------------------------------------------------ atmosphere
def vertical_depth(z):
  """Vertical depth (g/cm^2) at height z (m above the observation level)."""
  return X_SEA * np.exp(-(np.asarray(z) + H_OBS_M) / SCALE_HEIGHT_M)


def height_of_depth(xv):
  """Height above the observation level (m) of vertical depth xv (g/cm^2)."""
  return -SCALE_HEIGHT_M * np.log(np.asarray(xv) / X_SEA) - H_OBS_M


X_GROUND = float(vertical_depth(0.0))


def n_minus_1(z):
  return N_MINUS_1_SEA * np.exp(-(np.asarray(z) + H_OBS_M) / SCALE_HEIGHT_M)


def cherenkov_angle(z):
  """Cherenkov angle (rad) of a beta = 1 particle at height z."""
  return np.arccos(1.0 / (1.0 + n_minus_1(z)))


def cherenkov_yield_per_m(z):
  """Photons per metre (300-600 nm) of a beta = 1 charged particle."""
  return 2 * np.pi * ALPHA * (1 / LAMBDA1_M - 1 / LAMBDA2_M) * np.sin(cherenkov_angle(z)) ** 2


def electron_threshold_mev(z):
  return ELECTRON_MEV / np.sqrt(1.0 - 1.0 / (1.0 + n_minus_1(z)) ** 2)


def fraction_above_threshold(z):
  """Fraction of shower electrons above the Cherenkov threshold (approx.)."""
  return (1.0 + electron_threshold_mev(z) / 40.0) ** -1.5


# ------------------------------------------------------------------ cascades
def greisen(t, energy_tev):
  """Greisen's number of charged particles after t radiation lengths."""
  beta0 = np.log(np.maximum(np.asarray(energy_tev) / E_CRIT_TEV, 1.0 + 1e-9))
  t = np.maximum(np.asarray(t, dtype=np.float64), 1e-6)
  s = 3 * t / (t + 2 * beta0)
  return 0.31 / np.sqrt(beta0) * np.exp(t * (1 - 1.5 * np.log(s)))


@dataclasses.dataclass
class SubShowers:
  """Electromagnetic (sub-)showers of one primary: arrays of length K."""
  energy: np.ndarray   # TeV
  start: np.ndarray    # (K, 3) start point, m
  up: np.ndarray       # (K, 3) unit vector pointing back along the axis


def tilt(rng, u, angle):
  """Unit vectors at `angle` (rad) from u (K, 3), uniform azimuth."""
  u = np.atleast_2d(u)
  ref = np.where(np.abs(u[:, 2:3]) < 0.9, [[0, 0, 1.0]], [[1.0, 0, 0]])
  e1 = np.cross(u, ref)
  e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
  e2 = np.cross(u, e1)
  phi = rng.uniform(0, 2 * np.pi, size=len(u))
  a = np.asarray(angle)[..., None] if np.ndim(angle) else angle
  return (np.cos(a) * u + np.sin(a) * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2))


def point_at_depth(core, up, xv):
  """Point on the axis through `core` (z = 0) with direction `up` at vertical depth xv."""
  z = height_of_depth(xv)
  return np.asarray(core) + (z / up[2]) * np.asarray(up)


def advance(point, up, slant_depth):
  """Moves `slant_depth` g/cm^2 down along -up from `point`; None below ground."""
  xv = float(vertical_depth(point[2])) + slant_depth * up[2]
  if xv >= X_GROUND:
    return None
  z = float(height_of_depth(xv))
  return point - ((point[2] - z) / up[2]) * up


def gamma_shower(rng, energy_tev, core, up) -> SubShowers:
  """A photon primary: one EM cascade from its first pair production.

  The conversion depth is exponential with mean 9/7 X0, which together with
  Greisen's profile gives X_max ~ 47 + 36.7 ln(E / E_c) g/cm^2 (slant).
  """
  x1 = rng.exponential(9.0 / 7.0 * X0_RAD) * up[2]
  start = point_at_depth(core, up, min(x1, X_GROUND * 0.9))
  return SubShowers(np.array([energy_tev]), start[None], np.asarray(up)[None])


def proton_shower(rng, energy_tev, core, up, max_sub=64) -> SubShowers:
  """A proton primary: branching hadronic cascade feeding pi0 sub-showers."""
  up = np.asarray(up, dtype=np.float64)
  first = point_at_depth(core, up, rng.exponential(80.0) * up[2])
  hadrons = [(energy_tev, first, up, 80.0)]
  e_sub, p_sub, u_sub = [], [], []
  while hadrons:
    e_h, p, u, _ = hadrons.pop()
    k = rng.uniform(0.3, 0.8)                       # inelasticity
    e_sec = k * e_h
    e_em = rng.uniform(0.2, 0.45) * e_sec           # into pi0 -> 2 gamma
    n_gamma = int(rng.integers(2, 7))
    eg = rng.dirichlet(np.ones(n_gamma)) * e_em
    pt = rng.rayleigh(0.3e-3, size=n_gamma)        # TeV/c
    ug = tilt(rng, np.repeat(u[None], n_gamma, 0), np.minimum(pt / eg, 0.3))
    for e_g, u_g in zip(eg, ug):   # each photon converts after ~9/7 X0
      start = advance(p, u_g, rng.exponential(9.0 / 7.0 * X0_RAD))
      if start is not None:
        e_sub.append(e_g)
        p_sub.append(start)
        u_sub.append(u_g)
    children = [((1 - k) * e_h, 80.0)]               # leading nucleon
    e_ch = 0.9 * (e_sec - e_em)                      # charged pions (10% to muons/nu)
    n_pi = int(rng.integers(1, 4))
    children += [(e, 120.0) for e in rng.dirichlet(np.ones(n_pi)) * e_ch]
    for e, lam in children:
      if e < 0.02 or len(e_sub) >= max_sub:
        continue
      uc = tilt(rng, u[None], min(rng.rayleigh(0.3e-3) / e, 0.3))[0]
      nxt = advance(p, uc, rng.exponential(lam))
      if nxt is not None:
        hadrons.append((e, nxt, uc, lam))
  if not e_sub:
    return SubShowers(np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)))
  return SubShowers(np.asarray(e_sub), np.asarray(p_sub), np.asarray(u_sub))


# ------------------------------------------------------------------ emitters
@dataclasses.dataclass
class Emitters:
  """Cherenkov emission points sampled from the showers' light yield.

  Each of the n points stands for `photons_per_emitter` photons emitted along
  its sub-shower axis `up`, at height z with Cherenkov angle theta_c, tail
  angle theta_0.
  """
  pos: np.ndarray           # (n, 3) m
  up: np.ndarray            # (n, 3)
  theta_c: np.ndarray       # (n,) rad
  theta_0: np.ndarray       # (n,) rad
  photons_per_emitter: float
  xmax: float               # slant depth of the particle maximum along the main axis


def sample_emitters(rng, showers: SubShowers, main_up, n_emit=12000, n_grid=160,
                    lateral_fraction=0.08) -> Emitters:
  """Samples emission points along all sub-showers in proportion to their yield."""
  if len(showers.energy) == 0:
    return Emitters(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0), 0.0, X_GROUND)
  xv0 = vertical_depth(showers.start[:, 2])                     # (K,)
  frac = (np.arange(n_grid) + 0.5) / n_grid
  xv = xv0[:, None] + (X_GROUND - xv0)[:, None] * frac[None]    # (K, G) vertical depth
  dxv = (X_GROUND - xv0) / n_grid
  uz = showers.up[:, 2:3]
  t = (xv - xv0[:, None]) / uz / X0_RAD
  n_part = greisen(t, showers.energy[:, None])
  z = height_of_depth(xv)
  dl = (dxv[:, None] / uz) / (X_SEA / SCALE_HEIGHT_M * np.exp(-(z + H_OBS_M) / SCALE_HEIGHT_M))
  light = n_part * cherenkov_yield_per_m(z) * fraction_above_threshold(z) * dl
  total = float(light.sum())
  # depth of maximum along the main axis, from the summed particle profile
  main_uz = float(main_up[2])
  grid = np.linspace(0, X_GROUND, 400)
  prof, _ = np.histogram(xv.ravel(), bins=grid, weights=(n_part * dxv[:, None]).ravel())
  xmax = float(0.5 * (grid[:-1] + grid[1:])[np.argmax(prof)] / main_uz)
  if total <= 0:
    return Emitters(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0), 0.0, xmax)
  cdf = np.cumsum(light.ravel()) / total
  cell = np.minimum(np.searchsorted(cdf, rng.uniform(size=n_emit)), cdf.size - 1)
  ki, gi = np.divmod(cell, n_grid)
  xv_s = xv0[ki] + (X_GROUND - xv0[ki]) * (gi + rng.uniform(size=n_emit)) / n_grid
  z_s = height_of_depth(xv_s)
  up = showers.up[ki]
  pos = showers.start[ki] - ((showers.start[ki, 2] - z_s) / up[:, 2])[:, None] * up
  # lateral displacement, exponential in radius with a Moliere-radius scale
  r_moliere = 9.6 / (X_SEA / SCALE_HEIGHT_M * np.exp(-(z_s + H_OBS_M) / SCALE_HEIGHT_M))
  rho = rng.exponential(lateral_fraction * r_moliere)
  side = tilt(rng, up, np.pi / 2)
  pos = pos + rho[:, None] * side
  th_c = cherenkov_angle(z_s)
  th_0 = 0.35 * 0.83 * electron_threshold_mev(z_s) ** -0.67
  return Emitters(pos, up, th_c, th_0, total / n_emit, xmax)


RING_FRACTION = 0.4


def photon_angular_density(theta, theta_c, theta_0):
  """Photon density per steradian at angle theta from the emitter axis.

  Normalised mixture: a ring at theta_c (width 0.25 theta_c) and an exponential
  tail exp(-theta/theta_0) / max(theta, theta_c), small-angle approximation.
  """
  sig = 0.25 * theta_c
  ring = np.exp(-0.5 * ((theta - theta_c) / sig) ** 2) / (
      np.sqrt(2 * np.pi) * sig * 2 * np.pi * np.maximum(theta, 1e-6))
  e = np.exp(-theta_c / theta_0)
  norm = 2 * np.pi * ((theta_0 / theta_c) * (theta_0 - e * (theta_c + theta_0)) + theta_0 * e)
  tail = np.exp(-theta / theta_0) / np.maximum(theta, theta_c) / norm
  return RING_FRACTION * ring + (1 - RING_FRACTION) * tail


def muon_number(energy_tev):
  """Mean number of muons above 1 GeV at ground for a proton primary."""
  return 1.0e4 * (np.asarray(energy_tev) / 1000.0) ** 0.9


def _muon_shape(r):
  return r ** -0.75 * (1 + r / 320.0) ** -2.5


_RR = np.linspace(0.5, 3000, 6000)
_MUON_NORM = float(np.trapezoid(_muon_shape(_RR) * 2 * np.pi * _RR, _RR))


def muon_lateral_density(r_m, energy_tev):
  """Muons per m^2 at r metres from the core (Greisen form, normalised)."""
  return muon_number(energy_tev) * _muon_shape(np.maximum(r_m, 0.5)) / _MUON_NORM
