"""Event loop of the built-in MC and its `*_cbN.txt` output.

Like the real chain, each simulated shower is reused `n_scat` times with
different random core positions (i_scat = 0..n_scat-1); only triggered events
are written. Shower n of a run depends only on (seed, particle, n), so a run is
reproducible and can be split into independent parts.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Iterator

import numpy as np

from taiga_tf.detectors.taiga_iact.camera import Camera, builtin_camera
from taiga_tf.detectors.taiga_iact.formats import taiga_text
from taiga_tf.detectors.taiga_iact.mc import physics, telescope

PARTICLE_CODES = {'gamma': 1, 'proton': 14}
DEFAULT_INDEX = {'gamma': 2.6, 'proton': 2.7}


@dataclasses.dataclass(frozen=True)
class MCConfig:
  particle: str = 'gamma'
  e_min_tev: float = 1.0
  e_max_tev: float = 100.0
  spectral_index: float | None = None      # dN/dE ~ E^-index; default per particle
  core_radius_m: float = 500.0             # cores uniform in this disk
  n_scat: int = 10                         # core scatterings per shower
  source_radius_deg: float = 0.0           # gammas: 0 = point source on axis
  cone_deg: float = 5.0                    # protons: isotropic within this cone
  n_emit: int = 12000                      # emitters sampled per shower
  lateral_fraction: float = 0.08           # lateral spread / Moliere radius
  telescope: telescope.TelescopeConfig = telescope.TelescopeConfig()

  def __post_init__(self):
    if self.particle not in PARTICLE_CODES:
      raise ValueError(f'particle must be one of {sorted(PARTICLE_CODES)}, got {self.particle!r}')
    if not 0 < self.e_min_tev < self.e_max_tev:
      raise ValueError(f'need 0 < e_min_tev < e_max_tev, got {self.e_min_tev}, {self.e_max_tev}')

  @property
  def index(self) -> float:
    return DEFAULT_INDEX[self.particle] if self.spectral_index is None else self.spectral_index


def sample_energy(rng, cfg: MCConfig, size=None):
  """Power law E^-index between e_min and e_max (TeV), inverse-CDF sampling."""
  u = rng.uniform(size=size)
  g = 1.0 - cfg.index
  lo, hi = cfg.e_min_tev, cfg.e_max_tev
  if abs(g) < 1e-9:
    return lo * (hi / lo) ** u
  return (lo ** g + u * (hi ** g - lo ** g)) ** (1.0 / g)


def sample_direction(rng, cfg: MCConfig):
  """(theta, phi) of the primary's arrival direction (radians)."""
  radius = cfg.source_radius_deg if cfg.particle == 'gamma' else cfg.cone_deg
  if radius <= 0:
    return 0.0, 0.0
  cos_max = math.cos(math.radians(radius))
  theta = math.acos(1 - rng.uniform() * (1 - cos_max))   # uniform in solid angle
  return theta, rng.uniform(0, 2 * math.pi)


def _up(theta, phi):
  return np.array([math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi),
                   math.cos(theta)])


@dataclasses.dataclass
class Event:
  header: dict               # taiga_text.EVENT_HEADER fields
  amplitudes: np.ndarray     # (n_pixels,) pe, after NSB
  signal: np.ndarray         # (n_pixels,) pe, before NSB


def make_shower(rng, cfg: MCConfig, energy: float | None = None):
  """Samples a primary (energy, direction) and its Cherenkov emitters."""
  energy = float(sample_energy(rng, cfg)) if energy is None else float(energy)
  src_theta, src_phi = sample_direction(rng, cfg)
  up = _up(src_theta, src_phi)
  if cfg.particle == 'gamma':
    showers = physics.gamma_shower(rng, energy, np.zeros(3), up)
  else:
    showers = physics.proton_shower(rng, energy, np.zeros(3), up)
  emitters = physics.sample_emitters(rng, showers, up, cfg.n_emit,
                                     lateral_fraction=cfg.lateral_fraction)
  return energy, (src_theta, src_phi), emitters


def signal_image(rng, cfg: MCConfig, camera: Camera, energy, src_dir, emitters, core):
  """Amplitudes before NSB (pe) of one shower seen from one core position."""
  npe = telescope.shower_photoelectrons(rng, camera, emitters, core, cfg.telescope)
  if cfg.particle == 'proton':
    npe = npe + _muon_light(rng, camera, energy, core, _up(*src_dir), cfg)
  return telescope.electronics(rng, npe, cfg.telescope)


def random_core(rng, cfg: MCConfig):
  r = cfg.core_radius_m * math.sqrt(rng.uniform())
  phi = rng.uniform(0, 2 * math.pi)
  return (r * math.cos(phi), r * math.sin(phi))


def simulate_shower(cfg: MCConfig, camera: Camera, seed: int, n_shower: int,
                    pairs=None) -> list[Event]:
  """All triggered core scatterings of shower `n_shower` of run `seed`."""
  rng = np.random.default_rng([seed, PARTICLE_CODES[cfg.particle], n_shower])
  pairs = camera.neighbors if pairs is None else pairs
  energy, src_dir, emitters = make_shower(rng, cfg)
  events = []
  for i_scat in range(cfg.n_scat):
    core = random_core(rng, cfg)
    signal = signal_image(rng, cfg, camera, energy, src_dir, emitters, core)
    if not telescope.triggered(signal, pairs, cfg.telescope):
      continue
    amps = telescope.add_nsb(rng, signal, cfg.telescope)
    header = dict(n_shower=n_shower, i_scat=i_scat, n_pix=camera.n_pixels,
                  energy=energy, x_ground=core[0], y_ground=core[1], tel_theta=0.0,
                  tel_phi=0.0, src_theta=src_dir[0], src_phi=src_dir[1],
                  xmax=emitters.xmax)
    events.append(Event(header, amps, signal))
  return events


def _muon_light(rng, camera, energy, core, up, cfg, radius_m=12.0):
  """Muons landing within `radius_m` of the telescope (occasional rings/arcs)."""
  dist = math.hypot(*core)
  mean = float(physics.muon_lateral_density(dist, energy)) * math.pi * radius_m ** 2
  n_mu = rng.poisson(0.3 * mean)    # ~30% above the ~5 GeV Cherenkov threshold
  out = np.zeros(camera.n_pixels, dtype=np.int64)
  for _ in range(n_mu):
    rr = radius_m * math.sqrt(rng.uniform())
    ph = rng.uniform(0, 2 * math.pi)
    ground = np.array([rr * math.cos(ph), rr * math.sin(ph), 0.0])
    # muons come from the axis at a production height of a few km
    prod = np.array([core[0], core[1], 0.0]) + (rng.uniform(3000, 8000) / up[2]) * up
    mu_up = prod - ground
    mu_up /= np.linalg.norm(mu_up)
    out += telescope.muon_photoelectrons(rng, camera, ground[:2], mu_up, cfg.telescope)
  return out


def generate(cfg: MCConfig, n_events: int, seed: int, camera: Camera | None = None,
             first_shower: int = 1, progress=None) -> Iterator[Event]:
  """Yields triggered events until `n_events` have been produced."""
  camera = camera or builtin_camera()
  pairs = camera.neighbors
  n_done, shower = 0, first_shower
  while n_done < n_events:
    events = simulate_shower(cfg, camera, seed, shower, pairs)
    for ev in events[:n_events - n_done]:
      n_done += 1
      yield ev
    shower += 1
    if progress:
      progress(n_done, shower - first_shower)


def output_name(cfg: MCConfig, seed: int, part: int, signal: bool = False) -> str:
  """`..._cbN.txt` (NSB of sigma N added) or, signal=True, the chain's `..._c.txt`
  (before NSB) of the same events: the builder pairs the two by their stem."""
  if signal:
    return f'taiga_mc_{cfg.particle}_s{seed}_{part:04d}_c.txt'
  nsb = int(round(cfg.telescope.nsb_sigma))
  return f'taiga_mc_{cfg.particle}_s{seed}_{part:04d}_cb{nsb}.txt'


MAX_SHOWERS_WITHOUT_EVENT = 5000    # ~30 s of showers that never trigger: the settings are wrong


def _count(value, name: str, low: int, why: str) -> None:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
    raise ValueError(f'--{name}={value}: expected an integer >= {low} ({why})')


def check_run(cfg: MCConfig, output_dir, n_events, seed, events_per_file) -> None:
  """ValueError naming the argument (and its flag of `python -m
  taiga_tf.detectors.taiga_iact.mc`) for a run that cannot be made."""
  _count(n_events, 'n_events', 1, 'the number of triggered events to write')
  _count(events_per_file, 'events_per_file', 1, 'each file holds at least one event')
  _count(seed, 'seed', 0, 'seeds are non-negative')
  _count(cfg.n_scat, 'n_scat', 1, 'each shower is used at least once')
  tel = cfg.telescope
  for name, flag, v, ok, expected in (
      ('core_radius_m', 'core_radius', cfg.core_radius_m, lambda v: v >= 0, '>= 0 m'),
      ('source_radius_deg', 'source_radius', cfg.source_radius_deg, lambda v: 0 <= v <= 90,
       'in [0, 90] deg'),
      ('cone_deg', 'cone', cfg.cone_deg, lambda v: 0 <= v <= 90, 'in [0, 90] deg'),
      ('nsb_sigma', 'nsb_sigma', tel.nsb_sigma, lambda v: v >= 0, '>= 0 pe'),
      ('spectral_index', 'spectral_index', cfg.index, lambda v: True, 'a number')):
    if not (isinstance(v, (int, float, np.number)) and np.isfinite(v) and ok(v)):
      raise ValueError(f'{name}={v} (--{flag}): expected {expected}')
  if output_dir is None or not str(output_dir):
    raise ValueError('output_dir is empty: give the folder of the event files (--output_dir)')
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise NotADirectoryError(f'--output_dir={output_dir} is a file, not a folder')


def write_run(cfg: MCConfig, output_dir, n_events: int, seed: int,
              events_per_file: int = 2000, camera: Camera | None = None,
              log=print, write_signal: bool = True) -> dict:
  """Simulates `n_events` triggered events into `*_cbN.txt` files (every pixel,
  NSB added) and, with write_signal, the matching `*_c.txt` files (the same
  events before NSB, pixels with signal only), as the chain writes both.

  Returns a summary dict (files, signal_files, events, showers, seconds,
  trigger efficiency). The arguments are checked first (check_run): a bad one is a
  ValueError naming it (and its flag), and a setting under which no shower ever
  triggers fails after MAX_SHOWERS_WITHOUT_EVENT showers instead of running forever.
  """
  check_run(cfg, output_dir, n_events, seed, events_per_file)
  camera = camera or builtin_camera()
  os.makedirs(output_dir, exist_ok=True)
  t0 = time.time()
  state = {'showers': 0}
  last = [t0]

  def progress(n, showers):
    state['showers'] = showers
    if n == 0 and showers >= MAX_SHOWERS_WITHOUT_EVENT:
      raise ValueError(f'{cfg.particle}: not one of the first {showers} showers ({showers * cfg.n_scat} '
                       f'cores within {cfg.core_radius_m:g} m, {cfg.e_min_tev:g}-{cfg.e_max_tev:g} '
                       'TeV) triggered the telescope: widen the energy range (--e_min, --e_max) '
                       'or shrink --core_radius')
    if log and time.time() - last[0] > 10:
      last[0] = time.time()
      rate = n / (last[0] - t0)
      log(f'  {cfg.particle}: {n}/{n_events} events, {showers} showers, '
          f'{rate:.0f} ev/s, ETA {(n_events - n) / max(rate, 1e-9):.0f} s')

  it = generate(cfg, n_events, seed, camera, progress=progress)
  files, signal_files, n_written, part = [], [], 0, 0
  every = np.ones(camera.n_pixels, bool)
  while n_written < n_events:
    path = os.path.join(output_dir, output_name(cfg, seed, part))
    chunk = [ev for _, ev in zip(range(min(events_per_file, n_events - n_written)), it)]
    n_written += taiga_text.write_blocks(
        path, ((ev.header, taiga_text.pixel_lines(camera, ev.amplitudes, keep=every))
               for ev in chunk))
    files.append(path)
    if write_signal:
      signal_files.append(os.path.join(output_dir, output_name(cfg, seed, part, signal=True)))
      taiga_text.write_blocks(signal_files[-1], ((ev.header, taiga_text.pixel_lines(
          camera, ev.signal)) for ev in chunk))
    part += 1
  dt = time.time() - t0
  n_sim = state['showers'] * cfg.n_scat
  summary = dict(particle=cfg.particle, files=files, signal_files=signal_files,
                 events=n_written,
                 showers=state['showers'], seconds=dt,
                 events_per_s=n_written / max(dt, 1e-9),
                 trigger_efficiency=n_written / max(n_sim, 1))
  return summary
