"""Sample i of a seed from a score network: the one definition used by training-time
evaluation and by the SavedModel export.

    images_pe = sample_pe(net, prep, mask, edm_cfg, class_id, seed, index,
                          sampler='heun', num_steps=18, guidance=1.0)

The initial noise and the noise of every step of sample j are streams of the
per-sample hash noise of (seed, index[j]) (taiga_tf.noise), restricted to the
camera, so a sample never depends on the batch, the replica or the batch size.
Classifier-free guidance: D = D(x; y0) + w (D(x; y) - D(x; y0)), y0 the dropped
label; w = 1 is the plain conditional model (one network evaluation per step).
"""
from __future__ import annotations

import tensorflow as tf

from taiga_tf import noise as noise_lib
from taiga_tf.diffusion import edm as edm_lib
from taiga_tf.diffusion import solvers


def guided_denoiser(net, mask, cfg: edm_lib.EDMConfig, class_id, null_class: int, guidance):
  """D(x, sigma) of class_id with guidance weight `guidance` (a Python float or tensor)."""
  mask4 = tf.reshape(mask, [1, *mask.shape, 1])
  null = tf.fill(tf.shape(class_id), null_class)

  def d_of(x, sigma, y):
    return edm_lib.denoise(lambda xi, cn: net((xi, cn, y), training=False), x, sigma, cfg) * mask4

  def denoise(x, sigma):
    if isinstance(guidance, (int, float)) and guidance == 1.0:
      return d_of(x, sigma, class_id)
    g = tf.cast(guidance, tf.float32)

    def guided():
      both = d_of(tf.concat([x, x], 0), tf.concat([sigma, sigma], 0), tf.concat([class_id, null], 0))
      d_c, d_u = tf.split(both, 2)
      return d_u + g * (d_c - d_u)
    return tf.cond(tf.equal(g, 1.0), lambda: d_of(x, sigma, class_id), guided)
  return denoise


def sample_network(net, mask, cfg: edm_lib.EDMConfig, class_id, seed, index, sampler: str,
                   num_steps, guidance=1.0, null_class: int = 0):
  """Network-space samples [N, S, S] of class_id[i] as sample index[i] of seed."""
  mask = tf.convert_to_tensor(mask, tf.float32)
  s = mask.shape[0]
  noise = noise_lib.per_sample_image_noise(seed, index, [s, s, 1], mask[:, :, None])
  denoise = guided_denoiser(net, mask, cfg, tf.cast(class_id, tf.int32), null_class, guidance)
  x = solvers.sample(sampler, denoise, noise, num_steps, cfg)
  return x[..., 0] * mask


def sample_pe(net, prep, mask, cfg: edm_lib.EDMConfig, class_id, seed, index, sampler='heun',
              num_steps=18, guidance=1.0, null_class: int = 0, nsb_sigma: float = 0.0):
  """Images in photoelectrons [N, S, S]: samples, inverse transform, camera mask,
  and for a model of the signal only (nsb_sigma > 0) the night-sky background."""
  x = sample_network(net, mask, cfg, class_id, seed, index, sampler, num_steps, guidance,
                     null_class)
  mask = tf.convert_to_tensor(mask, tf.float32)
  return noise_lib.add_nsb(prep.inverse(x) * mask, seed, index, nsb_sigma, mask)
