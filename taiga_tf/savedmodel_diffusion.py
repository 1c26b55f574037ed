"""Export of a score network: the cGAN's interface plus the choice of sampler.

    m = tf.saved_model.load('<workdir>/saved_model')     # no taiga_tf, no keras
    m.generate(class_id=..., seed=...)                  # the default sampler (metadata)
    m.generate_indexed(class_id=..., seed=..., index=...)
    m.sample_heun(class_id=..., seed=..., index=..., num_steps=18, guidance=1.0)   # one per sampler
    getattr(m, 'sample_' + name)(...)                   # a sampler chosen by name
    m.metadata()['default_sampler'], ['default_num_steps'], ['default_guidance'], ['samplers']

Every endpoint runs the whole sampling loop as one graph (a tf.while_loop over
the steps); sample j depends only on (seed, index[j]) and the sampler settings.
Each sampler is traced once: `generate` and `generate_indexed` call the default
sampler's `sample_<name>` function with the default settings (the SavedModel
holds one graph per sampler, not a second copy of the default one).
num_steps outside [1, 10000] and a guidance that is NaN, inf or outside [0, 100]
(taiga_tf.diffusion.solvers.MAX_NUM_STEPS, MAX_GUIDANCE) are InvalidArgumentErrors
saying so, checked before the network runs.
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

  def _setting_checks(self, num_steps, guidance) -> list:
    """The sampler settings' bounds (solvers.check_settings), before the network runs."""
    steps_msg = f'num_steps must be in [1, {solvers.MAX_NUM_STEPS}]'
    g_msg = (f'guidance must be a finite number in [0, {solvers.MAX_GUIDANCE:g}] (1: none, 0: '
             'the unconditional model)')
    return [tf.debugging.assert_positive(num_steps, message=steps_msg),
            tf.debugging.assert_less_equal(num_steps, solvers.MAX_NUM_STEPS, message=steps_msg),
            tf.debugging.assert_equal(tf.math.is_finite(guidance), True, message=g_msg),
            tf.debugging.assert_greater_equal(guidance, 0.0, message=g_msg),
            tf.debugging.assert_less_equal(guidance, solvers.MAX_GUIDANCE, message=g_msg)]

  def _pe(self, name, class_id, seed, index, num_steps, guidance):
    return sampling.sample_pe(self._network, self._prep, self._mask, self._cfg, class_id, seed,
                              index, name, num_steps, guidance,
                              null_class=self._num_classes, nsb_sigma=self._nsb_sigma)

  def _sampler_fn(self, name):
    def fn(class_id, seed, index, num_steps, guidance):
      with tf.control_dependencies(self._setting_checks(num_steps, guidance)):   # also for N = 0
        return self._guarded(class_id, index,
                             lambda: self._pe(name, class_id, seed, index, num_steps, guidance))
    fn.__name__ = f'sample_{name}'
    return fn

  def _run(self, class_id, seed, index):
    d = self._defaults
    return getattr(self, f'sample_{d["sampler"]}')(
        class_id, seed, index, tf.constant(d['num_steps'], tf.int32),
        tf.constant(d['guidance'], tf.float32))


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
