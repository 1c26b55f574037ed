"""Export of a score network: the cGAN's interface plus the choice of sampler.

    m = tf.saved_model.load('<workdir>/saved_model')     # no taiga_tf, no keras
    m.generate(class_id=..., seed=...)                  # the default sampler (metadata)
    m.generate_indexed(class_id=..., seed=..., index=...)
    m.sample(class_id=..., seed=..., index=..., sampler='dpmpp_2m', num_steps=10, guidance=1.0)
    m.sample_heun(class_id=..., seed=..., index=..., num_steps=18, guidance=1.0)   # one per sampler
    m.metadata()['default_sampler'], ['default_num_steps'], ['default_guidance'], ['samplers']

Every endpoint runs the whole sampling loop as one graph (a tf.while_loop over
the steps); sample j depends only on (seed, index[j]) and the sampler settings.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from taiga_tf.detectors import Detector
from taiga_tf.diffusion import edm as edm_lib
from taiga_tf.diffusion import sampling, solvers
from taiga_tf.savedmodel import _ExportModule, export_module, nsb_consts

_SIG = [tf.TensorSpec([None], tf.int32, name='class_id'), tf.TensorSpec([2], tf.int64, name='seed'),
        tf.TensorSpec([None], tf.int64, name='index'), tf.TensorSpec([], tf.int32, name='num_steps'),
        tf.TensorSpec([], tf.float32, name='guidance')]


class DiffusionModule(_ExportModule):

  def __init__(self, net, prep, detector: Detector, num_classes: int,
               cfg: edm_lib.EDMConfig, defaults: dict, info: dict, asset_path: str,
               nsb_sigma: float = 0.0):
    super().__init__(net, detector, num_classes, info, asset_path)
    self._prep, self._cfg, self._defaults = prep, cfg, defaults
    self._nsb_sigma = float(nsb_sigma)
    for name in solvers.SAMPLERS:
      setattr(self, f'sample_{name}', tf.function(self._sampler_fn(name), input_signature=_SIG))

  def _pe(self, name, class_id, seed, index, num_steps, guidance):
    with tf.control_dependencies([tf.debugging.assert_positive(
        num_steps, message='num_steps must be >= 1')]):
      return sampling.sample_pe(self._network, self._prep, self._mask, self._cfg, class_id, seed,
                                index, name, num_steps, guidance,
                                null_class=self._num_classes, nsb_sigma=self._nsb_sigma)

  def _sampler_fn(self, name):
    def fn(class_id, seed, index, num_steps, guidance):
      return self._guarded(class_id, index,
                           lambda: self._pe(name, class_id, seed, index, num_steps, guidance))
    fn.__name__ = f'sample_{name}'
    return fn

  def _images(self, class_id, seed, index):
    d = self._defaults
    return self._pe(d['sampler'], class_id, seed, index, tf.constant(d['num_steps'], tf.int32),
                    tf.constant(d['guidance'], tf.float32))

  @tf.function(input_signature=_SIG[:3] + [tf.TensorSpec([], tf.string, name='sampler')] + _SIG[3:])
  def sample(self, class_id, seed, index, sampler, num_steps, guidance):
    """Any sampler by name (for compiled, fixed-sampler use take sample_<name>)."""
    names = list(solvers.SAMPLERS)
    known = tf.reduce_any(tf.equal(sampler, names))
    ok = tf.debugging.Assert(known, ['sampler must be one of ' + ', '.join(names) + '; got',
                                     sampler])
    k = tf.argmax(tf.cast(tf.equal(sampler, names), tf.int32), output_type=tf.int32)
    branches = [lambda n=n: self._pe(n, class_id, seed, index, num_steps, guidance) for n in names]
    with tf.control_dependencies([ok]):
      return self._guarded(class_id, index, lambda: tf.switch_case(k, branches))


def export(net, prep, detector: Detector, num_classes: int, cfg: edm_lib.EDMConfig,
           defaults: dict, model_info: dict, out_dir: str, nsb_sigma: float = 0.0) -> str:
  consts = {**prep.constants(),
            'sigma_data': np.float32(cfg.sigma_data), 'sigma_min': np.float32(cfg.sigma_min),
            'sigma_max': np.float32(cfg.sigma_max), 'rho': np.float32(cfg.rho),
            'default_sampler': defaults['sampler'],
            'default_num_steps': np.int32(defaults['num_steps']),
            'default_guidance': np.float32(defaults['guidance']),
            'samplers': np.array(solvers.SAMPLERS),
            'null_class': np.int32(num_classes), **nsb_consts(nsb_sigma)}
  return export_module(
      lambda info, asset: DiffusionModule(net, prep, detector, num_classes, cfg, defaults, info,
                                          asset, nsb_sigma),
      detector, num_classes, model_info, consts, out_dir)
