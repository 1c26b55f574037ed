"""Speed of the score model on this machine, as ratios measured in one run.

  .venv/bin/python tools/benchmark_diffusion.py [--model=out/diffusion_taiga/saved_model]

- network evaluations/s of the recipe's U-Net (batch 64, plain graph);
- the compiled sampling loop (Heun, 18 steps = 35 evaluations, one tf.while_loop)
  with XLA against the plain graph: images/s after compilation, and compile time;
- end to end `taiga_tf.generate` at 35 evaluations: images/s to disk;
- training images/s: 1 device against 2 virtual-CPU replicas (MirroredStrategy),
  float32 against mixed bfloat16.
Without --model an untrained export of the recipe's network is made (speed does
not depend on the weights). Each variant runs in its own process.
"""
import argparse
import json
import os
import tempfile
import textwrap

from bench_utils import run_child

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NET = "channels=32, channel_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(8,), emb_dim=128"

TRAIN = textwrap.dedent('''
    import json, sys
    sys.path.insert(0, {tools!r})
    from taiga_tf.training import configure_devices, make_strategy, make_step_fn
    n_dev, mp, steps, B = {n_dev}, {mp!r}, {steps}, {batch}
    configure_devices(n_dev)
    import numpy as np, tensorflow as tf, keras
    from taiga_tf.detectors.taiga_iact.camera import builtin_camera
    from taiga_tf.diffusion import edm
    from taiga_tf.models import diffusion, unet
    strategy = make_strategy(n_dev)
    if mp == 'bfloat16':
      keras.config.set_dtype_policy('mixed_bfloat16')
    cfg = diffusion.DiffusionConfig(unet.UNetConfig({net}), edm.EDMConfig.scaled(0.125))
    with strategy.scope():
      m = diffusion.DiffusionModel(cfg, builtin_camera().mask, B)
      m.build_all()
      m.compile(keras.optimizers.Adam(1e-4))
    from bench_utils import time_train_steps
    print(json.dumps({{'images_per_s': time_train_steps(m, strategy, False, B, steps)}}))
''')

SAMPLE = textwrap.dedent('''
    import json, time
    import numpy as np, tensorflow as tf
    model = tf.saved_model.load({model!r})
    B, jit, reps = {batch}, {jit}, {reps}
    steps, g = tf.constant(18, tf.int32), tf.constant(1.0)
    fn = tf.function(lambda y, s, i: model.sample_heun(class_id=y, seed=s, index=i, num_steps=steps,
                                                       guidance=g)['image'], jit_compile=jit)
    y = tf.fill([B], 23)
    seed = tf.constant([1, 2], tf.int64)
    t0 = time.time()
    fn(y, seed, tf.range(B, dtype=tf.int64)).numpy()
    compile_s = time.time() - t0
    t0 = time.time()
    for k in range(reps):
      fn(y, seed, tf.range(k * B, (k + 1) * B, dtype=tf.int64)).numpy()
    dt = time.time() - t0
    # the network alone: one evaluation = one call of the exported Euler-Maruyama with 1 step
    em = tf.function(lambda y, s, i: model.sample_euler_maruyama(
        class_id=y, seed=s, index=i, num_steps=tf.constant(1), guidance=g)['image'])
    em(y, seed, tf.range(B, dtype=tf.int64)).numpy()
    t1 = time.time()
    for k in range(reps * 5):
      em(y, seed, tf.range(B, dtype=tf.int64)).numpy()
    nfe_s = reps * 5 * B / (time.time() - t1)
    print(json.dumps({{'images_per_s': reps * B / dt, 'compile_s': compile_s, 'nfe_per_s': nfe_s}}))
''')


def make_export(tmp):
  code = textwrap.dedent(f'''
      import json, numpy as np, keras
      from taiga_tf.detectors.taiga_iact.camera import builtin_camera
      from taiga_tf.detectors.taiga_iact.detector import TaigaIACT
      from taiga_tf.diffusion import edm
      from taiga_tf.models import diffusion, unet
      from taiga_tf import savedmodel_diffusion
      det = TaigaIACT(builtin_camera(), np.logspace(0, 2, 11), np.arange(0, 550, 50), 10, 10,
                      {{'picture_pe': 14.0, 'boundary_pe': 7.0, 'brightest_island': True}})
      cfg = diffusion.DiffusionConfig(unet.UNetConfig({NET}), edm.EDMConfig.scaled(0.125))
      m = diffusion.DiffusionModel(cfg, det.mask, 8)
      m.build_all()
      p = savedmodel_diffusion.export(m.net_ema, det.preprocessing(), det, 100, cfg.edm,
          {{'sampler': 'heun', 'num_steps': 18, 'guidance': 1.0}}, det.metadata(),
          {tmp!r} + '/saved_model')
      print(json.dumps({{'path': p}}))
  ''')
  return run_child(code)['path']


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument('--model', default=None)
  ap.add_argument('--train_steps', type=int, default=20)
  ap.add_argument('--batch_size', type=int, default=64)
  ap.add_argument('--reps', type=int, default=3)
  ap.add_argument('--generate_examples', type=int, default=1024)
  ap.add_argument('--data_dir', default=None, help='data_dir of the model (for the generate run)')
  args = ap.parse_args()
  tmp = tempfile.mkdtemp(prefix='bench_diffusion_')
  model = args.model or make_export(tmp)
  rows = []
  res = {jit: run_child(SAMPLE.format(model=model, batch=args.batch_size, jit=jit, reps=args.reps))
         for jit in (False, True)}
  g, x = res[False], res[True]
  rows.append((f'network evaluations/s (batch {args.batch_size}, graph)', f'{g["nfe_per_s"]:.0f}', ''))
  rows.append(('Heun 35 NFE, plain graph: images/s', f'{g["images_per_s"]:.2f}',
               f'compile {g["compile_s"]:.0f} s'))
  rows.append(('Heun 35 NFE, XLA: images/s', f'{x["images_per_s"]:.2f}',
               f'compile {x["compile_s"]:.0f} s; XLA / graph {x["images_per_s"] / g["images_per_s"]:.2f}'))
  if args.model:
    out = os.path.join(tmp, 'generated')
    # 4 shards; a batch that divides them (a shard's last batch is padded to the full batch)
    gen_batch = max(8, min(256, args.generate_examples // 4))
    cmd = (f'import json, sys; sys.argv = ["g"]\n'
           f'from taiga_tf import generation\n'
           f's = generation.generate(generation.GenerateConfig(model={model!r}, output_dir={out!r}, '
           f'plan="imbalanced", num_examples={args.generate_examples}, seed=1, batch_size={gen_batch}, '
           f'jit_compile="false", data_dir={args.data_dir!r}), log=lambda *a: None)\n'
           f'print(json.dumps({{k: s[k] for k in ("images_per_s", "sampling_images_per_s")}}))')
    e = run_child(cmd, cwd=REPO)
    rows.append((f'generate end to end, {args.generate_examples} images, Heun 35 NFE: images/s',
                 f'{e["images_per_s"]:.2f}',
                 f'writing adds {100 * (e["sampling_images_per_s"] / e["images_per_s"] - 1):.0f} %'))
  train = {}
  for name, n_dev, mp in (('1 device, float32', 1, 'float32'), ('2 virtual CPUs, float32', 2, 'float32'),
                          ('1 device, mixed bfloat16', 1, 'bfloat16')):
    train[name] = run_child(TRAIN.format(tools=os.path.dirname(os.path.abspath(__file__)), n_dev=n_dev, mp=mp, steps=args.train_steps,
                                         batch=args.batch_size, net=NET))['images_per_s']
  base = train['1 device, float32']
  for name, v in train.items():
    rows.append((f'training {name}: images/s', f'{v:.1f}', f'ratio {v / base:.2f}'))
  w = max(len(r[0]) for r in rows)
  print()
  for name, val, note in rows:
    print(f'{name:<{w}}  {val:>8}  {note}')
  print(f'\nbenchmark_diffusion: XLA/graph sampling {x["images_per_s"] / g["images_per_s"]:.2f}x, '
        f'2 replicas {train["2 virtual CPUs, float32"] / base:.2f}x, '
        f'bfloat16 {train["1 device, mixed bfloat16"] / base:.2f}x')
  print(json.dumps({'sampling': res, 'train': train}))


if __name__ == '__main__':
  main()
