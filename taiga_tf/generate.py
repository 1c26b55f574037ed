r"""Writes an augmented dataset with an exported generator.

  python -m taiga_tf.generate --model=out/cgan_taiga/saved_model --plan=balanced \
      --num_examples=100000 --output_dir=out/generated/balanced --seed=1

Plans: imbalanced (the MC's class frequencies), balanced (uniform over energy
bins, MC distances within a bin), counts:<file.json> (explicit per-class
counts). Example i depends only on (seed, i); an interrupted run resumes when
started again with the same arguments; the output appears only when complete.

On N machines sharing a file system (or N processes), run the same command with
--num_workers=N --worker_index=i on each; the last worker to finish completes the
dataset, identical to a one-machine run's with the same --num_shards (the default,
about 10,000 examples a shard, at least 4 and at least N, is the same in every worker).
"""
import json

from absl import app, flags

from taiga_tf import console

FLAGS = flags.FLAGS
flags.DEFINE_string('model', None, 'SavedModel directory (<workdir>/saved_model).')
flags.DEFINE_string('plan', 'balanced', "'imbalanced', 'balanced' or 'counts:<file.json>'.")
flags.DEFINE_integer('num_examples', None, 'Number of examples (counts plans: optional check).')
flags.DEFINE_string('output_dir', None, 'Output dataset directory (TFDS format).')
flags.DEFINE_integer('seed', 0, 'Generation seed in [0, 2^63): example i depends only on '
                     '(seed, i).')
flags.DEFINE_integer('batch_size', 256, 'Sampling batch size (does not change the output).')
flags.DEFINE_integer('num_shards', None, 'Output shards (default ~10,000 examples each, at least 4 and '
                     'at least --num_workers).')
flags.DEFINE_enum('jit_compile', 'auto', ['auto', 'true', 'false'],
                  'XLA for the sampler (auto: on GPU, off on CPU; stored, kept on resume).')
flags.DEFINE_enum('sampler', None, ['heun', 'edm_stochastic', 'dpmpp_2m', 'euler_ancestral',
                                     'dpmpp_2m_sde', 'euler_maruyama', 'pc'],
                  'Diffusion exports: the sampler (default: the export\'s).')
flags.DEFINE_integer('num_steps', None, 'Diffusion exports: sampler steps, 1 to 10000 (default: the '
                     'export\'s).')
flags.DEFINE_float('guidance', None, 'Diffusion exports: classifier-free guidance weight, 0 to '
                   '100 (1: none).')
flags.DEFINE_string('data_dir', None, "The training dataset's data_dir (default: the model's).")
flags.DEFINE_bool('overwrite', False, 'Replace an existing output_dir.')
flags.DEFINE_integer('num_workers', 1, 'Workers sharing the plan (each writes its own shards '
                     'of one --output_dir on a shared file system).')
flags.DEFINE_integer('worker_index', 0, 'This worker: 0 .. num_workers-1.')
flags.mark_flags_as_required(['model', 'output_dir'])


def main(argv):
  del argv
  console.start_tensorflow()
  with console.user_errors('taiga_tf.generate'):
    from taiga_tf import generation  # pylint: disable=g-import-not-at-top
    cfg = generation.GenerateConfig(
        model=FLAGS.model, output_dir=FLAGS.output_dir, plan=FLAGS.plan,
        num_examples=FLAGS.num_examples, seed=FLAGS.seed, batch_size=FLAGS.batch_size,
        num_shards=FLAGS.num_shards, jit_compile=FLAGS.jit_compile, data_dir=FLAGS.data_dir,
        overwrite=FLAGS.overwrite, sampler=FLAGS.sampler, num_steps=FLAGS.num_steps,
        guidance=FLAGS.guidance, num_workers=FLAGS.num_workers, worker_index=FLAGS.worker_index)
    s = generation.generate(cfg)
    print(json.dumps(s, default=str))
    if not s['complete']:
      print(f"taiga_tf.generate: worker {FLAGS.worker_index} of {FLAGS.num_workers}: "
            f"{s['generated_now']} examples in {s['seconds']:.1f} s; the dataset is completed by "
            'the last worker to finish')
      return
    print(f"taiga_tf.generate: {s['num_examples']} examples ({FLAGS.plan}) in {s['output_dir']}: "
          f"{s['generated_now']} generated in {s['seconds']:.1f} s ({s['images_per_s']:.0f} images/s "
          f"end to end, sampler {s['sampling_images_per_s']:.0f} images/s)")


if __name__ == '__main__':
  app.run(main)
