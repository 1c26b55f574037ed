"""Export of a trained generator as a plain-TensorFlow SavedModel.

    m = tf.saved_model.load('<workdir>/saved_model')     # no taiga_tf, no keras
    out = m.generate(class_id=tf.constant([12, 57], tf.int32),
                     seed=tf.constant([1, 2], tf.int64))
    out['image']   # float32 [N, S, S] in the detector's unit (TAIGA-IACT: photoelectrons,
                   # 0 outside the camera; LArTPC: the 0-255 scale)
    out['pixels']  # float32 [N, n_pixels], the detector's per-pixel vector
    m.metadata()   # detector, mask, its constants (TAIGA-IACT: camera map, class edges),
                   # preprocessing, nsb_sigma, ...

Sample i of a call depends only on (seed, i) (`generate_indexed` takes the
indices explicitly, for writers that resume or shard; an index must be in
[0, 2^32), as many samples as one seed gives: take another seed for more). A bad
class id, a bad index or class_id and index of different lengths are errors
that say so; an empty class_id gives empty outputs; a NaN or inf image is an error,
never an output. The detector's geometry and
constants and the preprocessing are constants of the graph and `assets/model.json`.
A model of the signal only (trained with --signal_only) adds the night-sky
background to its images: Gaussian, sigma `metadata()['nsb_sigma']` pe per
camera pixel, a per-sample stream of the seed (taiga_tf.noise.add_nsb).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from taiga_tf import noise
from taiga_tf.detectors import Detector


def sample_pe(generator, prep, mask, z_dim: int, class_id, seed, index,
              nsb_sigma: float = 0.0):
  """Images in photoelectrons [N, S, S] of class_id[i] as sample index[i] of seed.

  The one definition of "sample i of a seed": per-sample noise, the generator in
  inference mode, the inverse transform, the detector mask, and for a model of the
  signal only (nsb_sigma > 0) the night-sky background. Used by the export and
  by the training-time evaluation.
  """
  z = noise.per_sample_normal(seed, index, z_dim)
  x = generator((z, class_id), training=False)[..., 0]
  return noise.add_nsb(prep.inverse(x) * mask, seed, index, nsb_sigma, mask)


# Sample indices are checked to lie in [0, INDEX_LIMIT): the per-sample noise
# (taiga_tf.noise) hashes 32 bits of the index, so larger ones would alias.
INDEX_LIMIT = 2 ** 32


class _ExportModule(tf.Module):
  """The interface every export shares: generate, generate_indexed, metadata.

  Subclasses define `_images(class_id, seed, index)` -> photoelectrons [N, S, S].
  Keras 3 variables are not found by tf.Module.variables: keep their tf.Variables.
  """

  def __init__(self, network, detector: Detector, num_classes: int, info: dict, asset_path: str):
    super().__init__(name='taiga_tf_generator')
    self._network = network
    self._weights = [w.value for w in network.weights]
    self._num_classes = num_classes
    self._mask = tf.constant(detector.mask.astype(np.float32))
    self._flat_index = tf.constant(detector.flat_index)
    self._size = detector.image_size
    self._info = {k: tf.constant(v) for k, v in info.items()}
    self.model_json = tf.saved_model.Asset(asset_path)

  def _checks(self, class_id, index) -> list:
    msg = f'class_id must be in [0, {self._num_classes})'
    idx_msg = ('index must be in [0, 2^32): sample i is a function of (seed, i) with 32 bits of '
               'i; take another seed for more samples')
    return [
        tf.debugging.assert_greater_equal(class_id, 0, message=msg),
        tf.debugging.assert_less(class_id, self._num_classes, message=msg),
        tf.debugging.assert_equal(tf.size(class_id), tf.size(index),
                                  message='class_id and index must have the same length'),
        tf.debugging.assert_non_negative(index, message=idx_msg),
        tf.debugging.assert_less(index, tf.constant(INDEX_LIMIT, tf.int64), message=idx_msg)]

  def _guarded(self, class_id, index, images):
    """Checks the arguments before anything runs; `images()` unless class_id is empty
    (then empty outputs)."""
    empty = lambda: tf.zeros([0, self._size, self._size], tf.float32)
    with tf.control_dependencies(self._checks(class_id, index)):
      return self._outputs(tf.cond(tf.size(class_id) > 0, images, empty))

  def _outputs(self, pe):
    finite = tf.debugging.assert_equal(
        tf.reduce_all(tf.math.is_finite(pe)), True,
        message='the sampled images are not finite (NaN or inf): the network or these sampler '
                'settings diverge; no image is returned')
    with tf.control_dependencies([finite]):
      pe = tf.identity(pe)
    pixels = tf.gather(tf.reshape(pe, [-1, self._size * self._size]), self._flat_index, axis=1)
    return {'image': pe, 'pixels': pixels}

  def _run(self, class_id, seed, index):
    return self._guarded(class_id, index, lambda: self._images(class_id, seed, index))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name='class_id'),
                                tf.TensorSpec([2], tf.int64, name='seed')])
  def generate(self, class_id, seed):
    """Images for class_id[i], sample i of `seed` (i = 0..N-1)."""
    n = tf.shape(class_id, out_type=tf.int64)[0]
    return self._run(class_id, seed, tf.range(n, dtype=tf.int64))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name='class_id'),
                                tf.TensorSpec([2], tf.int64, name='seed'),
                                tf.TensorSpec([None], tf.int64, name='index')])
  def generate_indexed(self, class_id, seed, index):
    """Images for class_id[i] as sample index[i] of `seed`."""
    return self._run(class_id, seed, index)

  @tf.function(input_signature=[])
  def metadata(self):
    return dict(self._info)


class GeneratorModule(_ExportModule):
  """The cGAN's EMA generator."""

  def __init__(self, generator, prep, detector: Detector, num_classes: int,
               z_dim: int, info: dict, asset_path: str, nsb_sigma: float = 0.0):
    super().__init__(generator, detector, num_classes, info, asset_path)
    self._prep = prep
    self._z_dim = z_dim
    self._nsb_sigma = float(nsb_sigma)

  def _images(self, class_id, seed, index):
    return sample_pe(self._network, self._prep, self._mask, self._z_dim, class_id, seed, index,
                     self._nsb_sigma)


def export_module(make_module, detector: Detector, num_classes: int, model_info: dict,
                  consts: dict, out_dir: str) -> str:
  """Writes make_module(info, asset_path) as a SavedModel, atomically (a temporary
  folder renamed when complete). `consts` join the common metadata() constants."""
  out_dir = os.path.abspath(out_dir)
  parent = os.path.dirname(out_dir)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix='.saved_model_tmp_', dir=parent)
  try:
    asset = os.path.join(tmp, 'model.json.src')
    with open(asset, 'w') as f:
      json.dump(model_info, f, indent=1)
    info = {
        'num_classes': np.int32(num_classes),
        'detector': detector.name,
        'square_size': np.int32(detector.image_size), 'mask': detector.mask.astype(np.float32),
        **detector.export_constants(), 'model_json': json.dumps(model_info), **consts,
    }
    module = make_module(info, asset)
    target = os.path.join(tmp, 'saved_model')
    tf.saved_model.save(module, target)
    # the asset was copied into saved_model/assets/
    if os.path.exists(out_dir):
      shutil.rmtree(out_dir)
    os.replace(target, out_dir)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return out_dir


def nsb_consts(nsb_sigma: float) -> dict:
  """metadata() of the NSB a signal-only model's samples get (0: a model of the full image)."""
  return {'nsb_sigma': np.float32(nsb_sigma), 'signal_only': np.bool_(nsb_sigma > 0)}


def export(generator, prep, detector: Detector, num_classes: int, z_dim: int,
           model_info: dict, out_dir: str, nsb_sigma: float = 0.0) -> str:
  """Exports the cGAN generator."""
  consts = {'z_dim': np.int32(z_dim), **prep.constants(), **nsb_consts(nsb_sigma)}
  return export_module(
      lambda info, asset: GeneratorModule(generator, prep, detector, num_classes, z_dim, info, asset,
                                          nsb_sigma),
      detector, num_classes, model_info, consts, out_dir)
