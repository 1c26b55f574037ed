"""Training-speed benchmark of the cGAN step: 1 device vs 2 virtual-CPU replicas, XLA on/off.

  .venv/bin/python tools/benchmark_train.py [--steps=30] [--batch_size=64] [--channels=32]

Each variant runs in its own process (virtual devices must be configured before
TensorFlow starts) on an in-memory batch, so only the train step is timed.
Prints training images/s per variant and the ratios to the 1-device, no-XLA run.
XLA with MirroredStrategy on CPU devices is not supported by TensorFlow (DESIGN.md).
"""
import argparse
import os
import textwrap

from bench_utils import run_child

CHILD = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, {tools!r})
    from taiga_tf.training import configure_devices, make_strategy, make_step_fn
    n_dev, jit, steps, B, ch = {n_dev}, {jit}, {steps}, {batch}, {ch}
    configure_devices(n_dev)
    import numpy as np, tensorflow as tf, keras
    from taiga_tf.detectors.taiga_iact.camera import builtin_camera
    from taiga_tf.models import cgan
    strategy = make_strategy(n_dev)
    cfg = cgan.CGANConfig(g_channels=ch, d_channels=ch)
    with strategy.scope():
      m = cgan.CGAN(cfg, builtin_camera().mask, B)
      m.build_all()
      m.compile(keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9),
                keras.optimizers.Adam(4e-4, beta_1=0.0, beta_2=0.9))
    from bench_utils import time_train_steps
    ips = time_train_steps(m, strategy, jit, B, steps, key='d_loss')
    print(json.dumps({{'images_per_s': ips, 'replicas': strategy.num_replicas_in_sync}}))
''')


def run(n_dev, jit, args):
  code = CHILD.format(tools=os.path.dirname(os.path.abspath(__file__)), n_dev=n_dev, jit=jit, steps=args.steps, batch=args.batch_size, ch=args.channels)
  return run_child(code)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument('--steps', type=int, default=30)
  ap.add_argument('--batch_size', type=int, default=64)
  ap.add_argument('--channels', type=int, default=32)
  args = ap.parse_args()
  variants = [('1 device, XLA off', 1, False), ('1 device, XLA on', 1, True),
              ('2 virtual CPUs (MirroredStrategy), XLA off', 2, False)]
  res = {name: run(n, jit, args) for name, n, jit in variants}
  base = res[variants[0][0]]['images_per_s']
  w = max(len(n) for n, _, _ in variants)
  print(f'\n{"variant":<{w}}  {"images/s":>9}  {"ratio":>6}')
  for name, _, _ in variants:
    r = res[name]['images_per_s']
    print(f'{name:<{w}}  {r:>9.1f}  {r / base:>6.2f}')
  print(f'{"2 virtual CPUs, XLA on":<{w}}  {"n/a":>9}  (XLA does not combine with MirroredStrategy on CPU)')
  print(f'\nbenchmark_train: batch {args.batch_size}, width {args.channels}: '
        + ', '.join(f'{n} {res[n]["images_per_s"] / base:.2f}x' for n, _, _ in variants[1:]))


if __name__ == '__main__':
  main()
