r"""Built-in TAIGA-IACT Monte Carlo: writes `*_cbN.txt` and `*_c.txt` event files.

  python -m taiga_tf.detectors.taiga_iact.mc --particle=gamma --n_events=2000 --seed=1 --output_dir=/tmp/mc

Writes `n_events` triggered events (each shower reused --n_scat times with
random cores, as the real chain does) in the chain's text format, with progress
and a one-line summary: `*_cbN.txt` with the night-sky background (NSB) of sigma
N pe added to every pixel, and the matching `*_c.txt` with the same events before
NSB (the signal; --nowrite_signal skips them).
"""
import json

from absl import app, flags

from taiga_tf import console
from taiga_tf.detectors.taiga_iact.camera import get_camera
from taiga_tf.detectors.taiga_iact.mc import simulate, telescope

FLAGS = flags.FLAGS
flags.DEFINE_enum('particle', 'gamma', sorted(simulate.PARTICLE_CODES), 'Primary particle.')
flags.DEFINE_integer('n_events', 1000, 'Number of triggered events to write.')
flags.DEFINE_integer('seed', 1, 'Run seed: shower n depends only on (seed, particle, n).')
flags.DEFINE_string('output_dir', None, 'Directory for the *_cbN.txt / *_c.txt files.')
flags.DEFINE_integer('events_per_file', 2000, 'Events per output file.')
flags.DEFINE_float('e_min', 1.0, 'Minimum energy, TeV.')
flags.DEFINE_float('e_max', 100.0, 'Maximum energy, TeV.')
flags.DEFINE_float('spectral_index', None, 'dN/dE ~ E^-index (default 2.6 gamma, 2.7 proton).')
flags.DEFINE_float('core_radius', 500.0, 'Cores uniform in a disk of this radius, m.')
flags.DEFINE_integer('n_scat', 10, 'Core scatterings per shower (i_scat).')
flags.DEFINE_float('source_radius', 0.0, 'Gammas: source disk radius, deg (0 = point source).')
flags.DEFINE_float('cone', 5.0, 'Protons: isotropic within this cone half-angle, deg.')
flags.DEFINE_float('nsb_sigma', 4.0, 'Gaussian NSB sigma per pixel, photoelectrons.')
flags.DEFINE_bool('write_signal', True, 'Also write the matching *_c.txt files (the same events '
                  'before NSB), as the chain does.')
flags.DEFINE_string('camera', 'builtin', "'builtin' or a TAIGA pixel table file.")
flags.mark_flag_as_required('output_dir')


def config_from_flags() -> simulate.MCConfig:
  return simulate.MCConfig(
      particle=FLAGS.particle, e_min_tev=FLAGS.e_min, e_max_tev=FLAGS.e_max,
      spectral_index=FLAGS.spectral_index, core_radius_m=FLAGS.core_radius,
      n_scat=FLAGS.n_scat, source_radius_deg=FLAGS.source_radius, cone_deg=FLAGS.cone,
      telescope=telescope.TelescopeConfig(nsb_sigma=FLAGS.nsb_sigma))


APP = 'taiga_tf.detectors.taiga_iact.mc'


def main(argv):
  del argv
  with console.user_errors(APP):      # a bad flag: `<app>: error: <message>`, exit 2
    if FLAGS.e_min is None or FLAGS.e_max is None or not 0 < FLAGS.e_min < FLAGS.e_max:
      raise ValueError(f'--e_min={FLAGS.e_min}, --e_max={FLAGS.e_max}: expected '
                       '0 < e_min < e_max (TeV)')
    cfg = config_from_flags()
    simulate.check_run(cfg, FLAGS.output_dir, FLAGS.n_events, FLAGS.seed, FLAGS.events_per_file)
    s = simulate.write_run(cfg, FLAGS.output_dir, FLAGS.n_events, FLAGS.seed,
                           FLAGS.events_per_file, camera=get_camera(FLAGS.camera),
                           write_signal=FLAGS.write_signal)
  print(json.dumps({k: v for k, v in s.items() if k not in ('files', 'signal_files')}))
  print(f"{APP}: {s['events']} {cfg.particle} events from {s['showers']} showers "
        f"in {len(s['files'])} files under {FLAGS.output_dir} "
        f"({s['events_per_s']:.0f} events/s, trigger efficiency {s['trigger_efficiency']:.3f})")


if __name__ == '__main__':
  app.run(main)
