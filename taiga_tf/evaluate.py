r"""Fidelity report of a generated dataset against held-out MC.

  python -m taiga_tf.evaluate --generated=out/generated/balanced \
      --reference=taiga_iact/simulated --data_dir=out/tensorflow_datasets --output_dir=out/eval

Writes <output_dir>/report.json, PNG plots per particle and TensorBoard summaries
(<output_dir>/tensorboard); the classifiers trained on MC are kept in
<output_dir>/classifiers (or --classifier_dir) and reused.

Calibrating the report (once per MC reference; marks what each measure can see):

  python -m taiga_tf.evaluate --calibrate --reference=taiga_iact/simulated \
      --data_dir=out/tensorflow_datasets --output_dir=out/calibration --classifier_dir=out/classifiers
"""
from absl import app, flags

from taiga_tf import console

FLAGS = flags.FLAGS
flags.DEFINE_string('generated', None, 'Generated dataset directory (taiga_tf.generate output).')
flags.DEFINE_string('reference', 'taiga_iact/simulated', 'MC dataset name/config[:version].')
flags.DEFINE_string('data_dir', '~/tensorflow_datasets', 'TFDS data_dir of the MC dataset.')
flags.DEFINE_string('output_dir', None, 'Where the report goes.')
flags.DEFINE_string('classifier_dir', None, 'Cache of the MC-trained classifiers (and of '
                    'calibration.json); default <output_dir>/classifiers.')
flags.DEFINE_string('mc_split', 'test', 'MC split compared against (TFDS split syntax, e.g. '
                    '"validation+test" for twice the events). Never a training split.')
flags.DEFINE_integer('max_examples', 20000, 'Generated and MC examples used (each, per particle).')
flags.DEFINE_integer('max_train', 20000, 'MC train images per particle for the classifiers.')
flags.DEFINE_integer('epochs', 30, 'Most epochs of each classifier; training stops when its '
                     'validation loss has not improved for --patience epochs.')
flags.DEFINE_integer('patience', 3, 'Early-stopping patience of the classifiers (epochs).')
flags.DEFINE_integer('n_boot', 200, 'Bootstrap resamples of every interval.')
flags.DEFINE_integer('n_mc_splits', 5, 'Random halvings of the MC for the MC-vs-MC baselines.')
flags.DEFINE_integer('seed', 0, 'Seed of the splits, bootstraps and classifier initialisation.')
flags.DEFINE_bool('calibrate', False, 'Instead of a generated set, run the report on deliberately '
                  'wrong sets built from --calibration_split MC (taiga_tf/evaluation/<detector>/'
                  'wrong_sets.py) and write '
                  'calibration.json (beside the classifiers) and calibration.md.')
flags.DEFINE_string('calibration_split', 'validation', 'Held-out MC the wrong sets are built from.')
flags.DEFINE_list('calibration_particles', ['gamma'], 'Particles to calibrate the report for.')
flags.DEFINE_string('calibration', None, 'calibration.json to mark the measures with '
                    '(default <classifier_dir>/calibration.json when it exists).')
flags.mark_flags_as_required(['output_dir'])


def main(argv):
  del argv
  console.start_tensorflow()
  with console.user_errors('taiga_tf.evaluate'):
    if not FLAGS.calibrate and not FLAGS.generated:
      raise ValueError('give --generated=<dataset directory>, or --calibrate')
    # every other check (numbers, splits parsed: never the training split, the
    # --generated folder, its images) is made by evaluate() / calibrate() before any work
    from taiga_tf import evaluation  # pylint: disable=g-import-not-at-top
    cfg = evaluation.EvalConfig(
        generated=FLAGS.generated, reference=FLAGS.reference, data_dir=FLAGS.data_dir,
        output_dir=FLAGS.output_dir, classifier_dir=FLAGS.classifier_dir,
        max_examples=FLAGS.max_examples, max_train=FLAGS.max_train, epochs=FLAGS.epochs,
        patience=FLAGS.patience, seed=FLAGS.seed, mc_split=FLAGS.mc_split, n_boot=FLAGS.n_boot,
        n_mc_splits=FLAGS.n_mc_splits, calibration=FLAGS.calibration,
        calibration_split=FLAGS.calibration_split,
        calibration_particles=tuple(FLAGS.calibration_particles))
    if FLAGS.calibrate:
      cal = evaluation.calibrate(cfg)
      print(cal['table'])
      print(f'taiga_tf.evaluate --calibrate: {len(cal["measures"])} particle(s), '
            f'{cal["seconds"]:.0f} s; calibration in {evaluation.calibration_path(cfg)} '
            f'(* = told apart from the MC itself)')
      return
    report = evaluation.evaluate(cfg)
    print(evaluation.summary_table(report))
    for line in evaluation.summary_lines(report, FLAGS.mc_split):
      print(line)
    print(f'taiga_tf.evaluate: report in {FLAGS.output_dir}/report.json')


if __name__ == '__main__':
  app.run(main)
