r"""Exports <workdir>/saved_model from a training run's newest intact checkpoint.

  python -m taiga_tf.export --workdir=out/cgan_smoke [--weights=online]
"""
from absl import app, flags

from taiga_tf import console

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A taiga_tf.train workdir.')
flags.DEFINE_enum('weights', 'ema', ['ema', 'online'],
                  "Export the EMA of the weights (default) or the network's own weights (for runs "
                  'made before the EMA had its warm-up: their EMA of a short run still holds part '
                  'of the random initial weights).')
flags.mark_flag_as_required('workdir')


def main(argv):
  del argv
  console.start_tensorflow()
  with console.user_errors('taiga_tf.export'):
    from taiga_tf import training  # pylint: disable=g-import-not-at-top
    path = training.export_workdir(FLAGS.workdir, FLAGS.weights)
    print(f'taiga_tf.export: wrote {path}')


if __name__ == '__main__':
  app.run(main)
