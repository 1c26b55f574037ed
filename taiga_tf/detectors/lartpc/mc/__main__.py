r"""Built-in LArTPC Monte Carlo: writes larcv3 HDF5 files (charge and label projections).

  python -m taiga_tf.detectors.lartpc.mc --particle=muon --n_events=1000 --seed=1 --output_dir=/tmp/lar

Single particles in liquid argon projected on a wire plane of 3 mm pixels
(taiga_tf/detectors/lartpc/mc/simulate.py), `--canvas` pixels a side (512 gives
PILArNet-sized images), with progress and a one-line summary. Event i depends
only on (seed, particle, i).
"""
from absl import app, flags

from taiga_tf import console
from taiga_tf.detectors.lartpc.mc import simulate

FLAGS = flags.FLAGS
flags.DEFINE_enum('particle', 'muon', list(simulate.PARTICLES), 'Primary particle.')
flags.DEFINE_integer('n_events', 1000, 'Number of events to write.')
flags.DEFINE_integer('seed', 1, 'Run seed.')
flags.DEFINE_integer('first', 0, 'Index of the first event (to continue a run).')
flags.DEFINE_string('output_dir', None, 'Directory for the lartpc_<particle>_s<seed>_<k>.h5 files.')
flags.DEFINE_integer('events_per_file', 1000, 'Events per output file.')
flags.DEFINE_integer('canvas', 256, 'Pixels per side of the projected image.')
flags.DEFINE_float('p_min', None, 'Minimum momentum, MeV/c (default: the particle\'s range).')
flags.DEFINE_float('p_max', None, 'Maximum momentum, MeV/c.')
flags.mark_flag_as_required('output_dir')


APP = 'taiga_tf.detectors.lartpc.mc'


def main(argv):
  del argv
  with console.user_errors(APP):      # a bad flag: `<app>: error: <message>`, exit 2
    cfg = simulate.LArTPCConfig(particle=FLAGS.particle, canvas=FLAGS.canvas,
                                momentum_min=FLAGS.p_min, momentum_max=FLAGS.p_max)
    s = simulate.write_run(cfg, FLAGS.output_dir, FLAGS.n_events, FLAGS.seed,
                           FLAGS.events_per_file, FLAGS.first)
  print(f"{APP}: {s['events']} {cfg.particle} events in {len(s['files'])} "
        f"larcv3 files under {FLAGS.output_dir} ({s['events_per_s']:.1f} events/s)")


if __name__ == '__main__':
  app.run(main)
