r"""Fidelity report of a generated dataset against held-out MC.

  python -m taiga_tf.evaluate --generated=out/generated/balanced \
      --reference=taiga_iact/simulated --data_dir=out/tensorflow_datasets --output_dir=out/eval

Writes <output_dir>/report.json, PNG plots and TensorBoard summaries
(<output_dir>/tensorboard); the classifiers trained on MC are kept in
<output_dir>/classifiers (or --classifier_dir) and reused.
"""
from absl import app, flags

from taiga_tf import console

FLAGS = flags.FLAGS
flags.DEFINE_string('generated', None, 'Generated dataset directory (taiga_tf.generate output).')
flags.DEFINE_string('reference', 'taiga_iact/simulated', 'MC dataset name/config[:version].')
flags.DEFINE_string('data_dir', '~/tensorflow_datasets', 'TFDS data_dir of the MC dataset.')
flags.DEFINE_string('output_dir', None, 'Where the report goes.')
flags.DEFINE_string('classifier_dir', None, 'Cache of the MC-trained classifiers.')
flags.DEFINE_integer('max_examples', 20000, 'Generated and MC test examples used (each).')
flags.DEFINE_integer('max_train', 20000, 'MC train images per particle for the classifiers.')
flags.DEFINE_integer('epochs', 4, 'Training epochs of each classifier.')
flags.DEFINE_integer('seed', 0, 'Seed of the splits and classifier initialisation.')
flags.mark_flags_as_required(['generated', 'output_dir'])


def main(argv):
  del argv
  console.start_tensorflow()
  with console.user_errors('taiga_tf.evaluate'):
    from taiga_tf import evaluation  # pylint: disable=g-import-not-at-top
    cfg = evaluation.EvalConfig(
        generated=FLAGS.generated, reference=FLAGS.reference, data_dir=FLAGS.data_dir,
        output_dir=FLAGS.output_dir, classifier_dir=FLAGS.classifier_dir,
        max_examples=FLAGS.max_examples, max_train=FLAGS.max_train, epochs=FLAGS.epochs,
        seed=FLAGS.seed)
    report = evaluation.evaluate(cfg)
    print(evaluation.summary_table(report))
    g = report['gamma_hadron']
    print(f"taiga_tf.evaluate: {report['n_generated']} generated vs {report['n_mc_test']} MC test "
          f"{report['particle']}s: gamma/hadron pass (>0.5) {g['pass_generated_0.5']:.3f} vs MC "
          f"{g['pass_mc_0.5']:.3f}, two-sample AUC {report['two_sample']['auc']:.3f}; "
          f"report in {FLAGS.output_dir}/report.json")


if __name__ == '__main__':
  app.run(main)
