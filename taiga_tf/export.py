r"""Exports <workdir>/saved_model from a training run's last checkpoint.

  python -m taiga_tf.export --workdir=out/cgan_smoke
"""
from absl import app, flags

from taiga_tf import console

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A taiga_tf.train workdir.')
flags.mark_flag_as_required('workdir')


def main(argv):
  del argv
  console.start_tensorflow()
  with console.user_errors('taiga_tf.export'):
    from taiga_tf import training  # pylint: disable=g-import-not-at-top
    path = training.export_workdir(FLAGS.workdir)
    print(f'taiga_tf.export: wrote {path}')


if __name__ == '__main__':
  app.run(main)
