r"""Trains a conditional generative model on a built TFDS dataset.

  python -m taiga_tf.train --flagfile=taiga_tf/configs/cgan_taiga.cfg
  python -m taiga_tf.train --flagfile=taiga_tf/configs/cgan_smoke.cfg --workdir=/tmp/w

Flags given after --flagfile override it. Starting again with the same workdir
resumes from the newest intact checkpoint (damaged or missing newer ones are
skipped and named). Progress on the console, TensorBoard under
<workdir>/train, a SavedModel in <workdir>/saved_model at the end.

Several machines: with TF_CONFIG naming more than one task, the same command on
each machine trains with MultiWorkerMirroredStrategy (taiga_tf/cluster.py; the
workdir and data_dir on a shared file system; --batch_size is the global batch).
"""
import dataclasses
import json

from absl import app, flags

from taiga_tf import console

FLAGS = flags.FLAGS
flags.DEFINE_enum('model', 'cgan', ['cgan', 'diffusion'],
                  'Model to train: the cGAN or the score-based diffusion model.')
flags.DEFINE_string('workdir', None, 'Run directory (checkpoints, TensorBoard, SavedModel).')
flags.DEFINE_string('data_dir', '~/tensorflow_datasets', 'TFDS data_dir holding the built dataset.')
flags.DEFINE_string('dataset', 'taiga_iact/simulated', 'name/config[:version] of the dataset.')
flags.DEFINE_string('particle', 'gamma', "Particle type to train on (the dataset's particle "
                    "names: TAIGA-IACT gamma, proton), or 'all' for every example unlabelled by "
                    "particle (LArTPC: tracks and showers of every particle).")
flags.DEFINE_bool('condition_on_particle', False,
                  'Train on both particles, label = class_id + n_classes * particle.')
flags.DEFINE_bool('signal_only', False,
                  'Learn the Cherenkov signal before NSB (the dataset\'s image_signal); samples get '
                  'the chain\'s Gaussian NSB, its sigma measured on the training split and stored '
                  'in the export (metadata nsb_sigma).')
flags.DEFINE_bool('floor_output', False,
                  'cGAN: the generator\'s output is floored at the network-space value of an empty '
                  'pixel (LArTPC -1), so that exact zeros, most of a sparse image, are reachable.')
flags.DEFINE_bool('random_flips', False,
                  'Augment the training images with random horizontal and vertical flips (as the '
                  'LArTPC reference work did; a function of the seed and the example index).')
flags.DEFINE_integer('steps', 1000, 'Total generator steps.')
flags.DEFINE_integer('batch_size', 64, 'Global batch size (split over replicas).')
flags.DEFINE_float('g_lr', 1e-4, 'Generator learning rate (Adam, beta1 = 0).')
flags.DEFINE_float('d_lr', 4e-4, 'Discriminator learning rate (Adam, beta1 = 0).')
flags.DEFINE_float('beta2', 0.9, 'Adam beta2 of both optimizers.')
flags.DEFINE_integer('n_disc', 1, 'Discriminator steps per generator step.')
flags.DEFINE_integer('z_dim', 64, 'Latent dimension.')
flags.DEFINE_integer('embed_dim', 64, 'Shared class-embedding dimension of the generator.')
flags.DEFINE_integer('g_channels', 32, 'Generator width.')
flags.DEFINE_integer('d_channels', 32, 'Discriminator width.')
flags.DEFINE_float('ema_decay', 0.999, 'EMA decay of the generator weights.')
flags.DEFINE_integer('seed', 0, 'Training seed (data order, latent noise).')
flags.DEFINE_integer('log_every', 50, 'Steps between console/TensorBoard scalars.')
flags.DEFINE_integer('eval_every', 500, 'Steps between conditioning checks (0: never).')
flags.DEFINE_integer('ckpt_every', 500, 'Steps between checkpoints.')
flags.DEFINE_integer('eval_examples', 1000, 'Validation examples used by the conditioning check.')
flags.DEFINE_enum('jit_compile', 'auto', ['auto', 'true', 'false'],
                  'XLA for the train step (auto: on GPU only; off with MirroredStrategy on CPU).')
flags.DEFINE_integer('num_cpu_devices', 1,
                     'Split the CPU into N virtual devices and train with MirroredStrategy.')
flags.DEFINE_bool('export', True, 'Export <workdir>/saved_model at the end.')
# --model=diffusion
flags.DEFINE_float('lr', 2e-4, 'Score model: Adam learning rate (after the warm-up).')
flags.DEFINE_integer('lr_warmup', 200, 'Score model: linear learning-rate warm-up steps.')
flags.DEFINE_integer('channels', 32, 'U-Net base width.')
flags.DEFINE_string('channel_mult', '1,2,2', 'U-Net width multipliers, one per resolution from the image size down '
                    '(TAIGA-IACT 32, 16, 8).')
flags.DEFINE_integer('num_res_blocks', 2, 'U-Net residual blocks per resolution.')
flags.DEFINE_string('attn_resolutions', '8', 'Resolutions with self-attention (comma separated).')
flags.DEFINE_float('dropout', 0.0, 'U-Net dropout.')
flags.DEFINE_integer('emb_dim', 128, 'Noise-level and class embedding width.')
flags.DEFINE_float('p_uncond', 0.1, 'Probability of dropping the label (classifier-free guidance).')
flags.DEFINE_float('sigma_data', 0.0,
                   'EDM sigma_data; 0: measured on the training images in network space.')
flags.DEFINE_enum('mixed_precision', 'float32', ['float32', 'bfloat16'],
                  'Score model compute dtype (variables stay float32).')
flags.DEFINE_enum('sampler', 'heun', ['heun', 'edm_stochastic', 'dpmpp_2m', 'euler_ancestral',
                                      'dpmpp_2m_sde', 'euler_maruyama', 'pc'],
                  "Default sampler of the export and of the training-time evaluation.")
flags.DEFINE_integer('num_steps', 18, 'Default sampler steps (heun 18 = 35 network evaluations).')
flags.DEFINE_float('guidance', 1.0, 'Default classifier-free guidance weight (1: none).')
flags.mark_flag_as_required('workdir')


def config_from_flags():
  from taiga_tf.training import TrainConfig  # pylint: disable=g-import-not-at-top
  names = [f.name for f in dataclasses.fields(TrainConfig)]
  return TrainConfig(**{n: getattr(FLAGS, n) for n in names})


def main(argv):
  del argv
  console.start_tensorflow()
  with console.user_errors('taiga_tf.train'):
    from taiga_tf import training  # pylint: disable=g-import-not-at-top
    training.configure_devices(FLAGS.num_cpu_devices)
    s = training.train(config_from_flags())
    print(json.dumps(s, default=str))
    cond = (f", conditioning: mean |median size error| {s['mean_abs_median_size_rel_err']:.2f}, "
            f"W1(log size) {s['w1_log_size']:.3f}" if 'w1_log_size' in s else '')
    if 'd_loss' in s:
      losses = f", d_loss {s['d_loss']:.3f}, g_loss {s['g_loss']:.3f}"
    elif 'loss' in s:
      losses = f", loss {s['loss']:.4f}"
    else:
      losses = ' (already complete)'
    print(f"taiga_tf.train: {s['steps']} steps ({s['model']}) in {s['seconds']:.0f} s{losses}{cond}; "
          f"SavedModel {s.get('saved_model', '(not exported)')}")


if __name__ == '__main__':
  app.run(main)
