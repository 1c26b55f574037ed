"""TFDS builder of LArTPC images: 64 x 64 crops of tracks and showers.

    tfds build datasets/lartpc --config=simulated_small --data_dir=DIR
    tfds build datasets/lartpc --config=npy --manual_dir=NPY_DIR --data_dir=DIR
    tfds build datasets/lartpc --config=larcv3 --manual_dir=H5_DIR --data_dir=DIR

Sources:
- `simulated`, `simulated_small`: the built-in LArTPC MC
  (taiga_tf/detectors/lartpc/mc) writes larcv3 files (cached under the download
  dir), which are read back like any larcv3 file, with the MC's labels and truth;
- `larcv3`: larcv3 HDF5 files (`*.h5`) in --manual_dir, sparse2d product `data`
  (charge) and, when present, `label` (per-pixel 1 track, 2 shower);
- `npy`: the reference work's arrays `larcv_png_64_{train,test}_{tracks,showers}.npy`
  in --manual_dir (uint8 images, class from the file name, no charge or labels).
For larcv3 sources every projection of every event gives one crop: 64 x 64
pixels around the charge-weighted centre, kept when more than 1 % of its pixels
are non-zero (the reference group's rule). The crop's charge is stored as is
(`charge`, MeV-equivalent for the built-in MC) and on the reference's 0-255
scale (`image`: 255 at `full_scale` per pixel). Splits: 80/10/10 by a hash of
(file, event) for larcv3 sources; for npy the files' train/test, with a tenth
of train held out (hash of the entry) as validation. A bad file fails the
build with an error naming it (nothing is written: TFDS writes to a temporary
folder renamed at the end).

On Apache Beam (README "Beyond one machine"): the same command with
`--beam_pipeline_options="runner=DirectRunner,direct_num_workers=2,direct_running_mode=multi_processing"`
(or a cluster runner) spreads the files over the workers and gives the same examples
(the examples of one file are made by taiga_tf/detectors/lartpc/examples.py).
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from taiga_tf import tfds_builders
from taiga_tf.detectors.lartpc.detector import CLASSES, LABELS, PARTICLES
from taiga_tf.detectors.lartpc import examples
from taiga_tf.detectors.lartpc.formats import larcv3, npy_arrays

PDG_TO_PARTICLE = examples.PDG_TO_PARTICLE
TRACK_PARTICLES = examples.TRACK_PARTICLES
crop_and_keep = examples.crop_and_keep
_split_of = examples.split_of
SPLIT_FRACTIONS = tfds_builders.SPLIT_FRACTIONS


@dataclasses.dataclass
class LArTPCBuilderConfig(tfds.core.BuilderConfig):
  """source: 'simulated' (built-in MC), 'larcv3' or 'npy' (files in --manual_dir)."""
  source: str = 'simulated'
  n_events: int = 0                  # per particle type, simulated configs
  seed: int = 1
  crop: int = 64
  min_occupancy: float = 0.01        # crops with a larger fraction of non-zero pixels are kept
  full_scale: float = 2.5            # charge at 255 on the uint8 scale
  producer: str = 'data'
  label_producer: str = 'label'
  num_shards: int | None = None


def _simulate_particle(args):
  particle, n_events, seed, out_dir = args
  from taiga_tf.detectors.lartpc.mc import simulate  # pylint: disable=g-import-not-at-top
  return simulate.write_run(simulate.LArTPCConfig(particle=particle), out_dir, n_events, seed,
                            log=print)


class Builder(tfds_builders.WorkUnits, tfds_builders.ConfiguredShards,
              tfds.core.GeneratorBasedBuilder):
  """LArTPC 64 x 64 crops of tracks and electromagnetic showers."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  BUILDER_CONFIGS = [
      LArTPCBuilderConfig(name='simulated', source='simulated', n_events=6000, num_shards=8,
                          description='Built-in LArTPC MC, 6000 events per particle type '
                                      '(muon, pion, proton, electron, photon).'),
      LArTPCBuilderConfig(name='simulated_small', source='simulated', n_events=300, num_shards=2,
                          description='Built-in LArTPC MC, 300 events per particle type.'),
      LArTPCBuilderConfig(name='larcv3', source='larcv3',
                          description='larcv3 HDF5 files (sparse2d `data`, optional `label`) '
                                      'from --manual_dir.'),
      LArTPCBuilderConfig(name='npy', source='npy',
                          description="The reference work's larcv_png_64 npy arrays from "
                                      '--manual_dir.'),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  config `larcv3`: put larcv3 HDF5 files (`*.h5`, sparse2d product `data`, optional
  per-pixel `label` product with 1 = track, 2 = shower) in --manual_dir.
  config `npy`: put larcv_png_64_train_tracks.npy, larcv_png_64_train_showers.npy,
  larcv_png_64_test_tracks.npy and larcv_png_64_test_showers.npy (uint8 arrays
  (N, 64, 64) or (N, 64, 64, 1 or 3)) in --manual_dir.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    if cfg.source not in ('simulated', 'larcv3', 'npy'):
      raise ValueError(f"source must be 'simulated', 'larcv3' or 'npy', got {cfg.source!r}")
    s = (cfg.crop, cfg.crop)
    metadata = tfds.core.MetadataDict(
        detector='lartpc', crop=cfg.crop, pixel_cm=0.3, source=cfg.source,
        crop_rule=f'{cfg.crop} x {cfg.crop} pixels around the charge-weighted centre, kept when '
                  f'more than {cfg.min_occupancy:.0%} of the pixels are non-zero',
        image_scale=f'uint8: round(255 * charge / {cfg.full_scale}), clipped at 255',
        full_scale=cfg.full_scale, class_names=list(CLASSES), label_names=list(LABELS),
        charge_unit='MeV-equivalent (built-in MC: deposit x recombination / MIP recombination)')
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=s, dtype=np.uint8, encoding='zlib',
                                          doc='The reference 0-255 scale.'),
            'charge': tfds.features.Tensor(shape=s, dtype=np.float32, encoding='zlib',
                                           doc='Charge per pixel (npy source: image * full_scale / 255).'),
            'label': tfds.features.Tensor(shape=s, dtype=np.uint8, encoding='zlib',
                                          doc='0 background, 1 track, 2 shower (zeros when has_label '
                                              'is false).'),
            'has_label': tfds.features.Scalar(dtype=np.bool_),
            'class_id': tfds.features.ClassLabel(names=list(CLASSES)),
            'class_known': tfds.features.Scalar(dtype=np.bool_,
                                                doc='False: no truth (class_id 0 is a placeholder).'),
            'particle': tfds.features.ClassLabel(names=list(PARTICLES)),
            'momentum': tfds.features.Scalar(dtype=np.float32, doc='MeV/c; -1 when unknown.'),
            'occupancy': tfds.features.Scalar(dtype=np.float32, doc='Fraction of non-zero pixels.'),
            'file': tfds.features.Text(),
            'run': tfds.features.Scalar(dtype=np.int64),
            'subrun': tfds.features.Scalar(dtype=np.int64),
            'event': tfds.features.Scalar(dtype=np.int64),
            'entry': tfds.features.Scalar(dtype=np.int64, doc='Event index in the file (npy: row).'),
            'projection': tfds.features.Scalar(dtype=np.int32),
        }),
        supervised_keys=None,
        homepage='https://github.com/DeepLearnPhysics/PILArNet',
        metadata=metadata,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    cfg = self.builder_config
    if cfg.source == 'npy':
      files = self._npy_files(epath.Path(dl_manager.manual_dir))
      units = [('npy', split, kind, os.fspath(p)) for (split, kind), p in files.items()]
      return {name: self._generate_examples(self._maker(), units, name)
              for name, _ in SPLIT_FRACTIONS}
    if cfg.source == 'simulated':
      files = self._simulate(epath.Path(dl_manager.download_dir))
    else:
      root = epath.Path(dl_manager.manual_dir)
      files = sorted(root.glob('*.h5')) if root.exists() else []
      if not files:
        raise FileNotFoundError(f'no larcv3 files (*.h5) in {root}.\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}')
      tfds_builders.refuse_same_files(files)            # a link: one file read twice
    # a split no event falls in is left out (a handful of events need not fill all three)
    present = set()
    for path in files:
      with larcv3.Larcv3Reader(path) as f:
        present |= {_split_of(f'{path.name}/{i}') for i in range(len(f))}
    units = [('larcv3', os.fspath(p)) for p in files]
    return {name: self._generate_examples(self._maker(), units, name) for name, _ in SPLIT_FRACTIONS
            if name in present}

  # ---------------------------------------------------------------- sources
  def _simulate(self, download_dir: epath.Path):
    cfg = self.builder_config
    out = download_dir / 'lartpc_mc' / f'{cfg.name}_n{cfg.n_events}_s{cfg.seed}'
    from taiga_tf.detectors.lartpc.mc.simulate import PARTICLES as MC_PARTICLES  # pylint: disable=g-import-not-at-top
    tfds_builders.simulate_once(out, _simulate_particle,
                                [(p, cfg.n_events, cfg.seed, os.fspath(out / p)) for p in MC_PARTICLES],
                                'lartpc')
    return sorted(out.glob('*/*.h5'))

  def _npy_files(self, root: epath.Path):
    files = {}
    for split in ('train', 'test'):
      for kind in ('tracks', 'showers'):
        p = root / f'larcv_png_64_{split}_{kind}.npy'
        if not p.exists():
          raise FileNotFoundError(f'{p} is missing.\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}')
        with npy_arrays.open_file(p) as f:                        # checks dtype and shape now
          npy_arrays.open_array(p, self.builder_config.crop, file=f)
        files[(split, kind)] = p
    return files

  # ---------------------------------------------------------------- examples
  def _maker(self):
    cfg = self.builder_config
    return examples.ExampleMaker(crop=cfg.crop, min_occupancy=cfg.min_occupancy,
                                 full_scale=cfg.full_scale, producer=cfg.producer,
                                 label_producer=cfg.label_producer)

  def _set_tally(self, split, counts):
    self.info.metadata.setdefault('class_counts', {})[split] = [
        int(counts.get(f'class/{k}', 0)) for k in range(len(CLASSES))]
