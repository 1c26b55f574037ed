"""TFDS builder of TAIGA-IACT images: the built-in MC or the chain's own files.

    tfds build datasets/taiga_iact --config=simulated_small --data_dir=DIR
    tfds build datasets/taiga_iact --config=mc --manual_dir=MC_DIR --data_dir=DIR

Every example is one triggered event: the camera image as a square array (axial
coordinates of the hexagonal lattice, taiga_tf.detectors.taiga_iact.camera), its truth and Hillas
parameters, and `class_id` on a 10 (energy) x 10 (distance) grid. The camera,
the class-bin edges and the cleaning used for the Hillas features are stored in
the dataset metadata (metadata.json): later stages read them from there.

Signal images: the chain writes every triggered event twice, `<stem>_c.txt`
before and `<stem>_cbN.txt` after the night-sky background (NSB) is added. When
both files of a stem are present, the examples come from the `_cbN` file
(`image`, with NSB) and `image_signal` holds the same event from the `_c` file
(`has_signal` true); the two files must list the same events in the same order.
A `_c` file alone is read as events without NSB (its image is its signal); any
other file has no signal image (`image_signal` zeros, `has_signal` false). The
metadata counts the signal images per split and particle (`signal_counts`): a
model trained on the signal only (`--signal_only`) needs them all.

Distance: by default the impact distance (shower core to telescope on the
ground, m). For a point source it is what moves the image centroid out and
stretches the ellipse, so it is the second variable that shapes the image at a
given energy. The other choice, the angular offset of the primary's direction
from the camera centre (deg; zero for a point source, meaningful for diffuse
gammas and protons), is the config option `distance="offset"`, e.g.
`--config='{"name": "mc_offset", "source": "mc", "distance": "offset"}'`.

On Apache Beam (README "Beyond one machine"): the same command with
`--beam_pipeline_options="runner=DirectRunner,direct_num_workers=2,direct_running_mode=multi_processing"`
(or a cluster runner) spreads the files over the workers and gives the same examples
(the examples of one file are made by taiga_tf/detectors/taiga_iact/examples.py).
"""
from __future__ import annotations

import dataclasses
import os

from absl import logging
import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from taiga_tf.detectors.taiga_iact import camera as camera_lib
from taiga_tf.detectors.taiga_iact import examples
from taiga_tf import tfds_builders
from taiga_tf.detectors.taiga_iact.formats import taiga_text

PARTICLES = examples.PARTICLES
SPLIT_FRACTIONS = tfds_builders.SPLIT_FRACTIONS
HILLAS_KEYS = examples.HILLAS_KEYS
CLEANING = examples.CLEANING
DISTANCE_RANGES = examples.DISTANCE_RANGES
pair_signal_files = examples.pair_signal_files
_split_of = examples.split_of
EVENT_FILE_PATTERNS = ('*.txt', '*.txt.gz')


@dataclasses.dataclass
class TaigaIactConfig(tfds.core.BuilderConfig):
  """source: 'simulated' (built-in MC) or 'mc' (files in --manual_dir)."""
  source: str = 'simulated'
  n_events: int = 0                 # per particle, simulated configs
  seed: int = 1
  camera: str = 'builtin'           # or the path of a TAIGA pixel table
  distance: str = 'impact'          # or 'offset'
  energy_range: tuple = (1.0, 100.0)
  n_energy_bins: int = 10
  n_distance_bins: int = 10
  num_shards: int | None = None     # per split; None = TFDS's size-based choice


def _simulate_particle(args):
  particle, n_events, seed, out_dir = args
  from taiga_tf.detectors.taiga_iact.mc import simulate  # pylint: disable=g-import-not-at-top
  cfg = simulate.MCConfig(particle=particle)
  return simulate.write_run(cfg, out_dir, n_events, seed, log=print)


class Builder(tfds_builders.WorkUnits, tfds_builders.ConfiguredShards,
              tfds.core.GeneratorBasedBuilder):
  """TAIGA-IACT camera images of gamma and proton showers."""

  VERSION = tfds.core.Version('1.1.0')
  RELEASE_NOTES = {'1.0.0': 'First release.',
                   '1.1.0': 'image_signal and has_signal (the event before NSB, from the '
                            "matching _c.txt file); the built-in MC writes both files."}
  BUILDER_CONFIGS = [
      TaigaIactConfig(name='simulated', source='simulated', n_events=30000, num_shards=8,
                      description='Built-in MC, 30000 triggered events per particle.'),
      TaigaIactConfig(name='simulated_small', source='simulated', n_events=2000,
                      num_shards=4,
                      description='Built-in MC, 2000 events per particle (demo, tests).'),
      TaigaIactConfig(name='mc', source='mc',
                      description="The chain's own *_cbN.txt files from --manual_dir."),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put the TAIGA-IACT chain's event text files (`*_c.txt` or `*_cbN.txt`, the
  11-number header + `cluster channel x y amplitude` blocks) in
    <manual_dir>/gamma/   (gamma primaries)
    <manual_dir>/proton/  (proton primaries)
  and pass `--manual_dir=<manual_dir>`. Files whose name contains `_clean_` are
  ignored. Keep each `<stem>_cbN.txt` with its `<stem>_c.txt`: the pair gives
  the signal-only image of every event (for --signal_only training). For the 2020 camera give the pixel table in the config, e.g.
  --config='{"name": "mc2020", "source": "mc", "camera": "/path/XY_turn_2020jan2tel_18fix.txt"}'
  """

  # ---------------------------------------------------------------- metadata
  @property
  def _camera(self) -> camera_lib.Camera:
    if not hasattr(self, '_camera_cache'):
      self._camera_cache = camera_lib.get_camera(self.builder_config.camera)
    return self._camera_cache

  def _edges(self):
    cfg = self.builder_config
    return examples.class_edges(cfg.energy_range, cfg.n_energy_bins, cfg.distance,
                                cfg.n_distance_bins)

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    if cfg.distance not in DISTANCE_RANGES:
      raise ValueError(f'distance must be one of {sorted(DISTANCE_RANGES)}, got {cfg.distance!r}')
    cam = self._camera
    e_edges, d_edges = self._edges()
    n_classes = cfg.n_energy_bins * cfg.n_distance_bins
    f32 = np.float32
    metadata = tfds.core.MetadataDict(
        camera=cam.to_dict(),
        energy_edges_tev=e_edges.tolist(),
        distance_edges=d_edges.tolist(),
        distance=cfg.distance,
        distance_unit=DISTANCE_RANGES[cfg.distance][2],
        class_id='energy_bin * n_distance_bins + distance_bin (values outside the '
                 'edges go to the first/last bin)',
        class_counts_doc='class_counts[split][particle][class_id]: examples per class',
        n_energy_bins=cfg.n_energy_bins, n_distance_bins=cfg.n_distance_bins,
        cleaning=CLEANING, image_unit='photoelectrons', source=cfg.source,
        signal_counts_doc='signal_counts[split][particle]: examples with a signal-only image')
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=cam.square_shape, dtype=f32,
                                          encoding='zlib'),
            'image_signal': tfds.features.Tensor(
                shape=cam.square_shape, dtype=f32, encoding='zlib',
                doc='The same event before NSB (from the matching _c.txt), pe; zeros if '
                    'the source has none (has_signal false).'),
            'has_signal': tfds.features.Scalar(dtype=np.bool_),
            'particle': tfds.features.ClassLabel(names=list(PARTICLES)),
            'energy': tfds.features.Scalar(dtype=f32, doc='Primary energy, TeV.'),
            'impact_distance': tfds.features.Scalar(dtype=f32, doc='hypot(core_x, core_y), m.'),
            'core_x': tfds.features.Scalar(dtype=f32, doc='Shower core x on the ground, m.'),
            'core_y': tfds.features.Scalar(dtype=f32, doc='Shower core y on the ground, m.'),
            'source_offset': tfds.features.Scalar(
                dtype=f32, doc='Angle of the primary direction from the camera centre, deg.'),
            'source_x': tfds.features.Scalar(dtype=f32, doc='Source position in the camera, cm.'),
            'source_y': tfds.features.Scalar(dtype=f32, doc='Source position in the camera, cm.'),
            'xmax': tfds.features.Scalar(dtype=f32, doc='Depth of shower maximum, g/cm^2.'),
            'file': tfds.features.Text(),
            'n_shower': tfds.features.Scalar(dtype=np.int32),
            'i_scat': tfds.features.Scalar(dtype=np.int32),
            'hillas': tfds.features.FeaturesDict({
                k: tfds.features.Scalar(dtype=np.int32 if k == 'n_pixels' else f32)
                for k in HILLAS_KEYS}),
            'energy_bin': tfds.features.Scalar(dtype=np.int32),
            'distance_bin': tfds.features.Scalar(dtype=np.int32),
            'class_id': tfds.features.ClassLabel(num_classes=n_classes),
        }),
        supervised_keys=None,
        homepage='https://taiga-experiment.info',
        metadata=metadata,
    )

  # ---------------------------------------------------------------- splits
  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    cfg = self.builder_config
    if cfg.source == 'mc':
      files = self._manual_files(epath.Path(dl_manager.manual_dir))
    elif cfg.source == 'simulated':
      files = self._simulate(epath.Path(dl_manager.download_dir))
    else:
      raise ValueError(f"source must be 'simulated' or 'mc', got {cfg.source!r}")
    units = [(p, os.fspath(f), s if s is None else os.fspath(s))
             for p in PARTICLES for f, s in files[p]]
    return {name: self._generate_examples(self._maker(), units, name) for name, _ in SPLIT_FRACTIONS}

  def _manual_files(self, root: epath.Path):
    files = {}
    for p in PARTICLES:
      d = root / p
      found = sorted({f for pat in EVENT_FILE_PATTERNS for f in d.glob(pat)
                      if '_clean_' not in f.name}) if d.exists() else []
      if not found:
        raise FileNotFoundError(f'no event files (*.txt, *.txt.gz) in {d}.\n'
                                f'{self.MANUAL_DOWNLOAD_INSTRUCTIONS}')
      files[p] = pair_signal_files(found)
      empty = [f for f, _ in files[p] if next(taiga_text.read_events(f), None) is None]
      if len(empty) == len(files[p]):
        raise ValueError(f'no {p} events: every event file in {d} is empty '
                         f'({", ".join(os.path.basename(os.fspath(f)) for f in empty)})')
      if empty:
        msg = (f'taiga_iact: WARNING: {len(empty)} of the {len(files[p])} {p} event files '
               f'hold no event: {", ".join(os.fspath(f) for f in empty)}')
        print(msg)
        logging.warning(msg)
    # one file under two names (a link, within a particle or across both): read twice
    tfds_builders.refuse_same_files(sorted({os.fspath(x) for pairs in files.values()
                                            for pair in pairs for x in pair if x is not None}))
    return files

  def _simulate(self, download_dir: epath.Path):
    """Runs the built-in MC once (cached under download_dir), both particles in parallel."""
    cfg = self.builder_config
    # _c: the run also holds the signal files (runs cached before 1.1.0 did not)
    out = download_dir / 'taiga_mc' / f'{cfg.name}_n{cfg.n_events}_s{cfg.seed}_c'
    tfds_builders.simulate_once(out, _simulate_particle,
                                [(p, cfg.n_events, cfg.seed, os.fspath(out / p)) for p in PARTICLES],
                                'taiga_iact')
    return {p: pair_signal_files((out / p).glob('*.txt')) for p in PARTICLES}

  # ---------------------------------------------------------------- examples
  def _maker(self):
    cfg = self.builder_config
    return examples.ExampleMaker(camera=cfg.camera, distance=cfg.distance,
                                 energy_range=cfg.energy_range, n_energy_bins=cfg.n_energy_bins,
                                 n_distance_bins=cfg.n_distance_bins)

  def _set_tally(self, split, counts):
    """Per-particle class counts and signal counts of a split, into the metadata."""
    cfg = self.builder_config
    n = cfg.n_energy_bins * cfg.n_distance_bins
    classes = {p: [int(counts.get(f'class/{p}/{k}', 0)) for k in range(n)] for p in PARTICLES}
    signal = {p: int(counts.get(f'signal/{p}', 0)) for p in PARTICLES}
    # metadata.json is written after all splits are generated
    self.info.metadata.setdefault('class_counts', {})[split] = classes
    self.info.metadata.setdefault('signal_counts', {})[split] = signal
