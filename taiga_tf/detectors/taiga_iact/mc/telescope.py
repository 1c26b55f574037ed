"""The telescope of the built-in MC: mirror, camera projection, PMTs, NSB, trigger.

Photon level: every photoelectron is sampled individually from the expected
number of detected photons of each emitter, gets its own arrival direction
(blurred by the optical point-spread function) and lands in the hexagonal pixel
whose cell contains it. Numpy only.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from taiga_tf.detectors.taiga_iact.camera import DEG_PER_CM, Camera, direction_to_camera
from taiga_tf.detectors.taiga_iact.mc import physics


@dataclasses.dataclass(frozen=True)
class TelescopeConfig:
  # 34 hexagonal facets of 60 cm (flat to flat): 34 * sqrt(3)/2 * 0.6^2 m^2
  mirror_area_m2: float = 10.6
  # mirror reflectivity x Winston cone x PMT quantum efficiency x atmosphere
  efficiency: float = 0.10
  psf_deg: float = 0.04            # on-axis optical PSF sigma
  psf_slope: float = 0.02          # PSF growth per degree off axis (Davis-Cotton coma)
  excess_noise: float = 0.35       # single-pe amplitude resolution (relative)
  nsb_sigma: float = 4.0           # Gaussian NSB per pixel, photoelectrons
  trigger_threshold: float = 10.0  # pe per pixel
  trigger_pixels: int = 2          # neighbouring pixels above threshold


def _to_pixels(rng, camera, v, cfg):
  """Directions -> blurred camera positions -> per-pixel photoelectron counts."""
  x, y = direction_to_camera(v)
  off_deg = np.hypot(x, y) * DEG_PER_CM
  sigma_cm = (cfg.psf_deg + cfg.psf_slope * np.minimum(off_deg, 10)) / DEG_PER_CM
  x = x + rng.normal(size=x.shape) * sigma_cm
  y = y + rng.normal(size=y.shape) * sigma_cm
  finite = np.isfinite(x) & np.isfinite(y)
  pix = np.full(x.shape, -1)
  pix[finite] = camera.nearest_pixel(x[finite], y[finite])
  return np.bincount(pix[pix >= 0], minlength=camera.n_pixels)


def shower_photoelectrons(rng, camera: Camera, emitters: physics.Emitters, core_xy,
                          cfg: TelescopeConfig) -> np.ndarray:
  """Photoelectrons per pixel from a shower whose core is at core_xy (m)."""
  if len(emitters.pos) == 0:
    return np.zeros(camera.n_pixels, dtype=np.int64)
  # Cheap look at a sixth of the emitters first: a shower that cannot give the
  # 2 x 10 pe of the trigger even at twice its expected light is not traced.
  probe = _expected_pe(emitters, core_xy, cfg, slice(0, None, 6)).sum() * 6
  if probe < 0.5 * cfg.trigger_threshold * max(cfg.trigger_pixels, 1):
    return np.zeros(camera.n_pixels, dtype=np.int64)
  lam, v = _expected_pe(emitters, core_xy, cfg, slice(None), return_dirs=True)
  npe = rng.poisson(lam)
  return _to_pixels(rng, camera, np.repeat(v, npe, axis=0), cfg)


def _expected_pe(emitters, core_xy, cfg, sel, return_dirs=False):
  """Expected photoelectrons of each selected emitter for a core at core_xy."""
  pos = emitters.pos[sel] + np.array([core_xy[0], core_xy[1], 0.0])
  dist = np.linalg.norm(pos, axis=1)
  v = pos / dist[:, None]                      # from the mirror towards the emitter
  # angle between the photon's path (-v) and the emitter's travel direction (-up)
  theta = np.arccos(np.clip((v * emitters.up[sel]).sum(1), -1, 1))
  cos_inc = np.clip(v[:, 2], 0, 1)             # mirror normal = zenith
  density = physics.photon_angular_density(theta, emitters.theta_c[sel], emitters.theta_0[sel])
  lam = (emitters.photons_per_emitter * density * cos_inc / dist ** 2
         * cfg.mirror_area_m2 * cfg.efficiency)
  return (lam, v) if return_dirs else lam


def muon_photoelectrons(rng, camera: Camera, ground_xy, up, cfg: TelescopeConfig,
                        track_m=800.0, mirror_radius_m=None) -> np.ndarray:
  """Photoelectrons of one muon reaching the ground at ground_xy (m) along -up.

  Photons are emitted at theta_c(z) around the track over its last `track_m`
  metres; those landing on the mirror disk are detected. At small impact
  parameter this draws the familiar ring, at larger ones an arc.
  """
  r_mirror = mirror_radius_m or np.sqrt(cfg.mirror_area_m2 / np.pi)
  up = np.asarray(up, dtype=np.float64)
  n_ph = rng.poisson(float(physics.cherenkov_yield_per_m(100.0)) * track_m)
  s = rng.uniform(0, track_m, n_ph)                     # path length above ground
  p = np.array([ground_xy[0], ground_xy[1], 0.0]) + s[:, None] * up
  th_c = physics.cherenkov_angle(p[:, 2])
  d = physics.tilt(rng, np.repeat(-up[None], n_ph, 0), th_c)   # photon travel dirs
  t = -p[:, 2] / d[:, 2]
  hit = p + t[:, None] * d
  on_mirror = np.hypot(hit[:, 0], hit[:, 1]) < r_mirror
  keep = on_mirror & (rng.uniform(size=n_ph) < cfg.efficiency)
  return _to_pixels(rng, camera, -d[keep], cfg)


def electronics(rng, npe, cfg: TelescopeConfig):
  """PMT amplitude (pe) with single-pe resolution: signal before NSB."""
  npe = np.asarray(npe, dtype=np.float64)
  return npe + cfg.excess_noise * np.sqrt(npe) * rng.normal(size=npe.shape)


def triggered(signal, pairs, cfg: TelescopeConfig) -> bool:
  """At least `trigger_pixels` neighbouring pixels >= threshold (before NSB)."""
  above = signal >= cfg.trigger_threshold
  if cfg.trigger_pixels <= 1:
    return bool(above.any())
  if cfg.trigger_pixels == 2:
    return bool((above[pairs[:, 0]] & above[pairs[:, 1]]).any())
  # general case: a pixel above threshold with enough neighbours above threshold
  n_nb = np.zeros(len(signal), dtype=np.int64)
  both = above[pairs[:, 0]] & above[pairs[:, 1]]
  np.add.at(n_nb, pairs[both, 0], 1)
  np.add.at(n_nb, pairs[both, 1], 1)
  return bool((n_nb[above] >= cfg.trigger_pixels - 1).any())


def add_nsb(rng, signal, cfg: TelescopeConfig):
  return signal + rng.normal(scale=cfg.nsb_sigma, size=np.shape(signal))
