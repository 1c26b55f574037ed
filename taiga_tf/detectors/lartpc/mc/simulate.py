"""Built-in LArTPC Monte Carlo: single particles in liquid argon, projected on a wire plane.

Numpy only (no TensorFlow), deterministic per seed: event i of a run with seed s
draws from its own stream (s, i), so a run can be split or resumed anywhere.

One event: a particle (muon, charged pion, proton: tracks; electron, photon:
electromagnetic showers) starts near the centre of a cube of liquid argon with an
isotropic direction and a momentum drawn log-uniformly in the particle's range.
Every charged particle is stepped (`step_cm`):
- heavy tracks lose energy along the CSDA range-energy curve of Bethe-Bloch
  (`physics.csda_range`: the Bragg peak at the end of the range comes out of
  it), with Moyal (Landau-like) fluctuations of the restricted loss per step,
  knock-on electrons (delta rays) above `delta_cut_mev` as particles of their
  own, and multiple Coulomb scattering with Highland's width (in the
  differential form whose accumulated variance is Highland's at every length);
- electrons lose energy by collisions (Bethe for electrons) and radiate
  bremsstrahlung photons (dN/dk = 4/3 / (X0 k) above `brems_cut_mev`), scatter
  (Highland), and stop below `stop_mev`;
- photons convert to e+e- after an exponential path of 9/7 X0 above 10 MeV, and
  Compton-scatter (mean free path from the attenuation of argon) below, down
  to photo-absorption at 0.1 MeV. Showers so branch into sub-tracks, with the
  longitudinal profile peaking at ln(E/Ec) and a Moliere-radius core.
The deposits are projected on the (x, y) plane in `pixel_cm` pixels: charge =
deposit x Box recombination of the step's dE/dx, divided by the MIP's
recombination (so charge is MeV-equivalent for a MIP), blurred by transverse
diffusion over a random drift length, plus Gaussian electronic noise and a
threshold (most pixels exactly 0). Labels per pixel: 0 background, 1 track
(heavy particles and their delta rays), 2 shower (electrons, photons and all
their secondaries), the class with the most charge in the pixel.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time

import numpy as np

from taiga_tf.detectors.lartpc.mc import physics as phys

PARTICLES = ('muon', 'pion', 'proton', 'electron', 'photon')
TRACK, SHOWER = 1, 2
ELECTRON_STRAGGLING = 0.3     # Moyal width of an electron step's collision loss
LABEL_NAMES = ('background', 'track', 'shower')
# momentum ranges (MeV/c), log-uniform
MOMENTUM_RANGE = {'muon': (60.0, 1000.0), 'pion': (60.0, 800.0), 'proton': (250.0, 1000.0),
                  'electron': (30.0, 1000.0), 'photon': (30.0, 1000.0)}
# photon mass attenuation in argon (cm^2/g), NIST XCOM, log-log interpolated
_MU_E = np.log([0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0])
_MU_RHO = np.log([0.1884, 0.1219, 0.0845, 0.0613, 0.0443, 0.0301, 0.0246])


@dataclasses.dataclass(frozen=True)
class LArTPCConfig:
  particle: str = 'muon'
  canvas: int = 256                # pixels per side of the projected image
  pixel_cm: float = 0.3
  step_cm: float = 0.15
  delta_cut_mev: float = 1.0       # knock-on electrons above this are tracked
  brems_cut_mev: float = 1.0
  stop_mev: float = 0.1            # electrons below deposit what is left
  field_kv_cm: float = 0.5
  drift_max_cm: float = 250.0
  diffusion_cm2_us: float = 13.2e-6   # transverse diffusion constant
  drift_speed_cm_us: float = 0.16
  noise_mev: float = 0.01          # electronic noise per pixel (MeV-equivalent)
  threshold_mev: float = 0.05      # pixels below are set to 0
  start_spread_cm: float = 5.0     # start point: Gaussian around the cube centre
  momentum_min: float | None = None
  momentum_max: float | None = None

  def __post_init__(self):
    if self.particle not in PARTICLES:
      raise ValueError(f'unknown particle {self.particle!r}; known: {", ".join(PARTICLES)}')

  @property
  def half_cm(self) -> float:
    return self.canvas * self.pixel_cm / 2

  @property
  def momentum_range(self):
    lo, hi = MOMENTUM_RANGE[self.particle]
    return (self.momentum_min or lo, self.momentum_max or hi)


@dataclasses.dataclass
class Event:
  charge: np.ndarray        # (canvas, canvas) float32, MeV-equivalent per pixel, 0 below threshold
  label: np.ndarray         # (canvas, canvas) uint8: 0 background, 1 track, 2 shower
  particle: str
  momentum: float           # MeV/c
  direction: np.ndarray     # (3,) unit vector
  start: np.ndarray         # (3,) cm, cube centre at 0
  deposits: dict            # per step: x, y, z, de, dedx, label, primary (bool), residual (cm)
  drift_cm: float


class _Deposits:
  def __init__(self):
    self.cols = {k: [] for k in ('x', 'y', 'z', 'de', 'dedx', 'label', 'primary', 'residual')}

  def add(self, pos, de, dedx, label, primary, residual):
    n = len(de)
    self.cols['x'].append(pos[:, 0]), self.cols['y'].append(pos[:, 1]), self.cols['z'].append(pos[:, 2])
    self.cols['de'].append(de), self.cols['dedx'].append(dedx)
    self.cols['label'].append(np.full(n, label, np.uint8))
    self.cols['primary'].append(np.full(n, primary, bool))
    self.cols['residual'].append(residual)

  def arrays(self):
    return {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in self.cols.items()}


def _rotate(d, theta_x, theta_y):
  """Direction d deflected by two small projected angles (in d's own frame)."""
  dx, dy, dz = d
  # an orthonormal frame (u, v) perpendicular to d
  if abs(dz) < 0.9:
    ux, uy, uz = -dy, dx, 0.0
  else:
    ux, uy, uz = 0.0, -dz, dy
  n = math.sqrt(ux * ux + uy * uy + uz * uz)
  ux, uy, uz = ux / n, uy / n, uz / n
  vx, vy, vz = dy * uz - dz * uy, dz * ux - dx * uz, dx * uy - dy * ux
  tx, ty = math.tan(theta_x), math.tan(theta_y)
  nx, ny, nz = dx + tx * ux + ty * vx, dy + tx * uy + ty * vy, dz + tx * uz + ty * vz
  n = math.sqrt(nx * nx + ny * ny + nz * nz)
  return (nx / n, ny / n, nz / n)


def _perpendicular_direction(d, angle, rng):
  """A direction at `angle` from d, uniform in azimuth."""
  phi = rng.uniform(0, 2 * math.pi)
  return _rotate(d, math.atan(math.tan(angle) * math.cos(phi)), math.atan(math.tan(angle) * math.sin(phi)))


class _Simulator:
  def __init__(self, cfg: LArTPCConfig, rng: np.random.Generator):
    self.cfg, self.rng = cfg, rng
    self.dep = _Deposits()
    self.stack = []
    self.limit = cfg.half_cm * 1.2    # particles are followed until they leave this cube

  def outside(self, x, y, z):
    lim = self.limit
    return abs(x) > lim or abs(y) > lim or abs(z) > lim

  # -------------------------------------------------------------- heavy tracks
  def heavy(self, kind, kinetic, pos, d, label, primary):
    cfg, rng, mass = self.cfg, self.rng, phys.MASS[kind]
    step = cfg.step_cm
    r0 = float(phys.csda_range(kinetic, mass))
    n = max(int(math.ceil(r0 / step)), 1)
    s = np.minimum(np.arange(n + 1) * step, r0)
    t = phys.kinetic_from_range(r0 - s, mass)
    t[-1] = 0.0
    de_mean = t[:-1] - t[1:]
    seg = np.diff(s)
    t_mid = np.maximum(0.5 * (t[:-1] + t[1:]), 1e-3)
    p_mid, beta_mid, _ = phys.kinematics(t_mid, mass)
    full = phys.dedx(t_mid, mass)
    restricted = phys.dedx(t_mid, mass, cfg.delta_cut_mev)
    frac = np.where(full > 0, restricted / np.maximum(full, 1e-9), 1.0)
    width = np.minimum(phys.landau_xi(beta_mid, seg) / np.maximum(de_mean * frac, 1e-9), 1.0)
    de = de_mean * frac * phys.moyal_factor(rng, n, width)
    # multiple scattering: differential Highland, theta^2(s + ds) - theta^2(s)
    th_hi = phys.highland_theta0(p_mid, beta_mid, s[1:] + 1e-9)
    th_lo = np.where(s[:-1] > 0, phys.highland_theta0(p_mid, beta_mid, np.maximum(s[:-1], 1e-9)), 0.0)
    th = np.sqrt(np.maximum(th_hi ** 2 - th_lo ** 2, 0.0))
    gx, gy = rng.standard_normal(n) * th, rng.standard_normal(n) * th
    n_delta = rng.poisson(phys.delta_ray_rate(t_mid, mass, cfg.delta_cut_mev) * seg)
    pts = np.empty((n, 3))
    x, y, z = pos
    for i in range(n):
      x1, y1, z1 = x + d[0] * seg[i], y + d[1] * seg[i], z + d[2] * seg[i]
      pts[i] = (0.5 * (x + x1), 0.5 * (y + y1), 0.5 * (z + z1))
      for _ in range(n_delta[i]):
        tm = float(phys.t_max(t_mid[i], mass))
        te = phys.sample_delta_energy(rng, cfg.delta_cut_mev, tm)
        # knock-on angle: cos = (T_e / p_e) (p_max / T_max)
        pe = math.sqrt(te * te + 2 * te * phys.ME)
        pmax = math.sqrt(tm * tm + 2 * tm * phys.ME)
        cos = min(te / pe * pmax / tm, 1.0)
        self.stack.append(('electron', te, pts[i].copy(), _perpendicular_direction(d, math.acos(cos), rng),
                           label, False))
      x, y, z = x1, y1, z1
      d = _rotate(d, gx[i], gy[i])
      if self.outside(x, y, z):
        n = i + 1
        break
    self.dep.add(pts[:n], de[:n], de[:n] / np.maximum(seg[:n], 1e-6), label, primary, r0 - s[1:n + 1])

  # -------------------------------------------------------------- electrons
  def electron(self, kinetic, pos, d, label, primary):
    cfg, rng = self.cfg, self.rng
    step, x0 = cfg.step_cm, phys.X0_CM
    x, y, z = pos
    t = kinetic
    pts, des, dedxs = [], [], []
    while t > cfg.stop_mev:
      loss = float(phys.electron_dedx(t))
      ds = min(step, t / loss)
      de = min(loss * ds * float(phys.moyal_factor(rng, 1, ELECTRON_STRAGGLING)[0]), t)
      # bremsstrahlung photons above the cut: dN = 4/3 ds/X0 ln(T/k_cut)
      if t > cfg.brems_cut_mev:
        n_b = rng.poisson(4.0 / 3.0 * ds / x0 * math.log(t / cfg.brems_cut_mev))
        for _ in range(n_b):
          k = cfg.brems_cut_mev * (t / cfg.brems_cut_mev) ** rng.random()
          k = min(k, t - de)
          if k <= 0:
            break
          t -= k
          self.stack.append(('photon', k, np.array([x, y, z]), d, label, False))
      if t <= 0.0:      # a step with no ionisation loss (straggling factor 0) radiated it all
        break
      p = math.sqrt(t * t + 2 * t * phys.ME)
      beta = p / (t + phys.ME)
      x1, y1, z1 = x + d[0] * ds, y + d[1] * ds, z + d[2] * ds
      pts.append((0.5 * (x + x1), 0.5 * (y + y1), 0.5 * (z + z1)))
      des.append(de)
      dedxs.append(de / ds)
      t -= de
      th = float(phys.highland_theta0(p, beta, ds))
      d = _rotate(d, rng.normal(0, th), rng.normal(0, th))
      x, y, z = x1, y1, z1
      if self.outside(x, y, z):
        t = 0.0
        break
    if t > 0:
      pts.append((x, y, z)), des.append(t), dedxs.append(max(t / step, 2.1))
    if pts:
      self.dep.add(np.array(pts), np.array(des), np.array(dedxs), label, primary, np.zeros(len(des)))

  # -------------------------------------------------------------- photons
  def photon(self, energy, pos, d, label):
    rng = self.rng
    x = np.asarray(pos, np.float64)
    while energy > 0.1:
      if energy > 10.0:
        x = x + np.asarray(d) * rng.exponential(phys.pair_conversion_length())
        if self.outside(*x):
          return
        avail = energy - 2 * phys.ME
        u = rng.uniform(0.05, 0.95)
        for te in (u * avail, (1 - u) * avail):
          self.stack.append(('electron', te, x.copy(), _perpendicular_direction(d, phys.ME / energy, rng),
                             label, False))
        return
      mu = math.exp(np.interp(math.log(energy), _MU_E, _MU_RHO)) * phys.DENSITY
      x = x + np.asarray(d) * rng.exponential(1.0 / mu)
      if self.outside(*x):
        return
      # Compton scattering: electron kinetic energy uniform up to the Compton edge
      eps = energy / phys.ME
      te = rng.uniform(0, energy * 2 * eps / (1 + 2 * eps))
      e2 = energy - te
      cos = float(np.clip(1 - phys.ME * (1 / e2 - 1 / energy), -1, 1))
      d2 = _perpendicular_direction(d, math.acos(cos), rng)
      pe = np.asarray(d) * energy - np.asarray(d2) * e2        # momentum conservation
      if te > 0.01:
        self.stack.append(('electron', te, x.copy(), tuple(pe / np.linalg.norm(pe)), label, False))
      energy, d = e2, d2
    self.dep.add(x[None], np.array([energy]), np.array([2.1]), label, False, np.zeros(1))

  def run(self):
    while self.stack:
      kind, t, pos, d, label, primary = self.stack.pop()
      if kind in phys.CHARGED_TRACKS:
        self.heavy(kind, t, pos, d, label, primary)
      elif kind == 'electron':
        self.electron(t, pos, d, label, primary)
      else:
        self.photon(t, pos, d, label)
    return self.dep.arrays()


def _isotropic(rng):
  cos = rng.uniform(-1, 1)
  phi = rng.uniform(0, 2 * math.pi)
  s = math.sqrt(1 - cos * cos)
  return (s * math.cos(phi), s * math.sin(phi), cos)


def _mip_recombination(field):
  return float(phys.recombination_box(2.105, field))


def project(cfg: LArTPCConfig, dep: dict, drift_cm: float, rng) -> tuple[np.ndarray, np.ndarray]:
  """Deposits -> (charge, label) images: recombination, diffusion, noise, threshold."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  n = cfg.canvas
  q = dep['de'] * phys.recombination_box(dep['dedx'], cfg.field_kv_cm) / _mip_recombination(cfg.field_kv_cm)
  col = np.floor((dep['x'] + cfg.half_cm) / cfg.pixel_cm).astype(np.int64)
  row = np.floor((cfg.half_cm - dep['y']) / cfg.pixel_cm).astype(np.int64)
  ok = (row >= 0) & (row < n) & (col >= 0) & (col < n)
  per_class = np.zeros((3, n, n), np.float64)
  np.add.at(per_class, (dep['label'][ok].astype(np.int64), row[ok], col[ok]), q[ok])
  sigma_px = math.sqrt(2 * cfg.diffusion_cm2_us * drift_cm / cfg.drift_speed_cm_us) / cfg.pixel_cm
  if sigma_px > 0.05:
    per_class = np.stack([ndimage.gaussian_filter(c, sigma_px, mode='constant') for c in per_class])
  signal = per_class.sum(0)
  charge = signal + rng.normal(0, cfg.noise_mev, signal.shape)
  charge = np.where(charge >= cfg.threshold_mev, charge, 0.0).astype(np.float32)
  label = np.where(charge > 0, 1 + np.argmax(per_class[1:], axis=0), 0).astype(np.uint8)
  label[(charge > 0) & (per_class[1:].sum(0) <= 0)] = 0     # noise above threshold: background
  return charge, label


def event_rng(seed: int, index: int) -> np.random.Generator:
  return np.random.default_rng(np.random.SeedSequence([seed, index]))


def simulate_deposits(cfg: LArTPCConfig, rng: np.random.Generator):
  """The particle's truth and its energy deposits: (momentum, direction, start, deposits)."""
  lo, hi = cfg.momentum_range
  p = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
  d = _isotropic(rng)
  start = rng.normal(0, cfg.start_spread_cm, 3)
  sim = _Simulator(cfg, rng)
  mass = phys.MASS[cfg.particle]
  kinetic = float(phys.kinetic_from_momentum(p, mass)) if mass > 0 else p
  label = TRACK if cfg.particle in phys.CHARGED_TRACKS else SHOWER
  sim.stack.append((cfg.particle, kinetic, start.copy(), d, label, True))
  return p, np.asarray(d), start, sim.run()


def simulate_event(cfg: LArTPCConfig, seed: int, index: int) -> Event:
  """Event `index` of the run with `seed` (its own random stream)."""
  rng = event_rng(seed, index)
  p, d, start, dep = simulate_deposits(cfg, rng)
  drift = float(rng.uniform(0, cfg.drift_max_cm))
  charge, lab = project(cfg, dep, drift, rng)
  return Event(charge, lab, cfg.particle, p, d, start, dep, drift)


def generate(cfg: LArTPCConfig, n_events: int, seed: int, first: int = 0):
  """Events first .. first + n_events - 1 of the run (a generator)."""
  for i in range(first, first + n_events):
    yield simulate_event(cfg, seed, i)


def crop(charge: np.ndarray, size: int = 64, label: np.ndarray | None = None):
  """size x size crop around the charge-weighted centre (clamped inside the image)."""
  h, w = charge.shape
  tot = charge.sum()
  if tot <= 0:
    r0, c0 = (h - size) // 2, (w - size) // 2
  else:
    rr, cc = np.indices(charge.shape)
    r = float((rr * charge).sum() / tot)
    c = float((cc * charge).sum() / tot)
    r0 = int(np.clip(round(r - size / 2), 0, h - size))
    c0 = int(np.clip(round(c - size / 2), 0, w - size))
  out = charge[r0:r0 + size, c0:c0 + size]
  return (out, label[r0:r0 + size, c0:c0 + size]) if label is not None else out


def to_uint8(charge: np.ndarray, full_scale_mev: float = 2.5) -> np.ndarray:
  """The reference's 0-255 scale: 255 at `full_scale_mev` per pixel and above."""
  return np.clip(np.round(charge / full_scale_mev * 255.0), 0, 255).astype(np.uint8)


PDG = {'muon': 13, 'pion': 211, 'proton': 2212, 'electron': 11, 'photon': 22}
TRUTH_DTYPE = np.dtype([('pdg', '<i4'), ('momentum', '<f4'), ('direction', '<f4', (3,)),
                        ('start', '<f4', (3,)), ('drift', '<f4')])
PRODUCERS = ('data', 'label')     # charge (MeV-equivalent) and labels (1 track, 2 shower)


MIN_CANVAS = 8      # pixels a side: the smallest crop a LArTPC dataset takes


def _count(value, name: str, low: int, why: str) -> None:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
    raise ValueError(f'--{name}={value}: expected an integer >= {low} ({why})')


def check_run(cfg: LArTPCConfig, output_dir, n_events, seed, events_per_file, first=0) -> None:
  """ValueError naming the argument (the flag of `python -m taiga_tf.detectors.lartpc.mc`
  of the same name; --p_min/--p_max for the momenta) for a run that cannot be made."""
  _count(n_events, 'n_events', 1, 'the number of events to write')
  _count(events_per_file, 'events_per_file', 1, 'each file holds at least one event')
  _count(seed, 'seed', 0, 'seeds are non-negative')
  _count(first, 'first', 0, 'event indices start at 0')
  _count(cfg.canvas, 'canvas', MIN_CANVAS, 'pixels per side; the datasets crop at least '
         f'{MIN_CANVAS} x {MIN_CANVAS}')
  if not (np.isfinite(cfg.pixel_cm) and cfg.pixel_cm > 0):
    raise ValueError(f'pixel_cm={cfg.pixel_cm}: expected a pixel pitch > 0 cm')
  for name, v in (('p_min', cfg.momentum_min), ('p_max', cfg.momentum_max)):
    if v is not None and not v > 0:       # (0 would silently mean the particle's default)
      raise ValueError(f'--{name}={v}: expected a momentum > 0 MeV/c')
  lo, hi = cfg.momentum_range
  if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
    raise ValueError(f'momentum range {lo}-{hi} MeV/c (--p_min={cfg.momentum_min}, '
                     f'--p_max={cfg.momentum_max}): expected 0 < p_min <= p_max')
  if output_dir is None or not str(output_dir):
    raise ValueError('output_dir is empty: give the folder of the larcv3 files (--output_dir)')
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise NotADirectoryError(f'--output_dir={output_dir} is a file, not a folder')


def write_run(cfg: LArTPCConfig, output_dir: str, n_events: int, seed: int,
              events_per_file: int = 1000, first: int = 0, log=print) -> dict:
  """Events first .. first + n_events - 1 into larcv3 files of `events_per_file` events.

  Each file `lartpc_<particle>_s<seed>_<k>.h5` holds the sparse2d products `data`
  (charge) and `label` (1 track, 2 shower) of projection 0 (the canvas, `pixel_cm`
  pixels, origin at its lower-left corner), event ids (run = seed, subrun = PDG code,
  event = index) and the truth rows in `Truth/particle` (TRUTH_DTYPE).
  """
  from taiga_tf.detectors.lartpc.formats import larcv3  # pylint: disable=g-import-not-at-top
  check_run(cfg, output_dir, n_events, seed, events_per_file, first)
  os.makedirs(output_dir, exist_ok=True)
  t0, files = time.time(), []
  origin = (-cfg.half_cm, -cfg.half_cm)
  for k, start in enumerate(range(first, first + n_events, events_per_file)):
    n = min(events_per_file, first + n_events - start)
    path = os.path.join(output_dir, f'lartpc_{cfg.particle}_s{seed}_{k:04d}.h5')
    with larcv3.Larcv3Writer(path, PRODUCERS, truth_dtype=TRUTH_DTYPE) as w:
      for ev in generate(cfg, n, seed, first=start):
        index = start + w.n_events
        truth = (PDG[cfg.particle], ev.momentum, ev.direction, ev.start, ev.drift_cm)
        w.add_event((seed, PDG[cfg.particle], index),
                    {'data': [larcv3.sparse_projection(ev.charge, 0, cfg.pixel_cm, origin)],
                     'label': [larcv3.sparse_projection(ev.label.astype(np.float32), 0, cfg.pixel_cm,
                                                        origin)]},
                    truth=truth)
    files.append(path)
    done = start + n - first
    log(f'lartpc mc: {cfg.particle}: {done}/{n_events} events ({done / (time.time() - t0):.1f}/s)')
  dt = time.time() - t0
  return {'particle': cfg.particle, 'events': n_events, 'files': files, 'seconds': dt,
          'events_per_s': n_events / max(dt, 1e-9)}
