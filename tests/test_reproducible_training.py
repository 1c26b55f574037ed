"""A run is a function of its flags and seed; a resumed run continues as the uninterrupted one."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from taiga_tf import data as data_lib
from taiga_tf import training
from taiga_tf.preprocessing import Preprocessing

SMALL = {'cgan': dict(g_channels=4, d_channels=4, z_dim=8, embed_dim=8),
         'diffusion': dict(channels=8, channel_mult='1,2', num_res_blocks=1,
                           attn_resolutions='16', emb_dim=16)}


def _cfg(data_dir, workdir, model, steps, **kw):
  return training.TrainConfig(workdir=str(workdir), data_dir=str(data_dir), dataset='taiga_iact/mc',
                              model=model, steps=steps, batch_size=8, log_every=2, eval_every=0,
                              ckpt_every=2, export=False, **{**SMALL[model], **kw})


def _variables(workdir):
  ckpt = tf.train.latest_checkpoint(str(workdir / 'checkpoints'))
  return {name: tf.train.load_variable(ckpt, name) for name, _ in tf.train.list_variables(ckpt)
          if 'save_counter' not in name and not name.startswith('_CHECKPOINTABLE')}


@pytest.mark.slow
def test_same_seed_same_model_and_resume_equals_uninterrupted(dummy_data_dir, tmp_path):
  quiet = lambda *a: None
  training.train(_cfg(dummy_data_dir, tmp_path / 'a', 'cgan', 4), log=quiet)
  training.train(_cfg(dummy_data_dir, tmp_path / 'b', 'cgan', 4), log=quiet)
  training.train(_cfg(dummy_data_dir, tmp_path / 'c', 'cgan', 2), log=quiet)     # "killed" at 2
  training.train(_cfg(dummy_data_dir, tmp_path / 'c', 'cgan', 4), log=quiet)     # resumed
  training.train(_cfg(dummy_data_dir, tmp_path / 'd', 'cgan', 4, seed=1), log=quiet)
  a, b, c, d = (_variables(tmp_path / k) for k in 'abcd')
  assert a.keys() == b.keys() == c.keys() and len(a) > 20
  # bitwise: same kernels, same order of operations on this machine
  assert [n for n in a if not np.array_equal(a[n], b[n])] == [], 'seeded rerun differs'
  assert [n for n in a if not np.array_equal(a[n], c[n])] == [], 'resumed run differs'
  differ = [n for n in a if a[n].dtype.kind == 'f' and a[n].size > 1 and
            not np.array_equal(a[n], d[n])]
  assert len(differ) > 10                 # another seed: other weights


@pytest.mark.slow
def test_resumed_score_model_equals_uninterrupted(dummy_data_dir, tmp_path):
  """The score model's noise (sigma, noise image, label dropout) and data both follow the step."""
  quiet = lambda *a: None
  training.train(_cfg(dummy_data_dir, tmp_path / 'a', 'diffusion', 4), log=quiet)
  training.train(_cfg(dummy_data_dir, tmp_path / 'c', 'diffusion', 2), log=quiet)
  training.train(_cfg(dummy_data_dir, tmp_path / 'c', 'diffusion', 4), log=quiet)
  a, c = _variables(tmp_path / 'a'), _variables(tmp_path / 'c')
  assert a.keys() == c.keys() and len(a) > 20
  assert [n for n in a if not np.array_equal(a[n], c[n])] == [], 'resumed run differs'


def test_data_order_is_a_function_of_seed_and_step(dummy_data_dir):
  spec = data_lib.open_dataset('taiga_iact/mc', str(dummy_data_dir))
  prep = Preprocessing()
  ds = lambda **kw: iter(data_lib.training_dataset(spec, prep, 8, 2, 'gamma', **kw))
  full = ds(seed=3)
  batches = [next(full) for _ in range(6)]     # 96 examples of 28: several epochs
  resumed = next(ds(seed=3, start_step=4))
  np.testing.assert_array_equal(resumed['image'], batches[4]['image'])
  np.testing.assert_array_equal(resumed['label'], batches[4]['label'])
  # each epoch is a permutation of the split: 28 distinct images in examples 0..27
  flat = np.concatenate([b['image'].numpy().reshape(16, -1) for b in batches])
  assert len({row.tobytes() for row in flat[:28]}) == 28
  other = next(ds(seed=4))
  assert not np.array_equal(other['image'], batches[0]['image'])


def test_random_flips_are_flips_and_resume_exactly(dummy_data_dir):
  spec = data_lib.open_dataset('taiga_iact/mc', str(dummy_data_dir))
  ds = lambda **kw: iter(data_lib.training_dataset(spec, Preprocessing(), 8, 1, 'gamma', seed=3,
                                                   **kw))
  plain, flipped = ds(), ds(random_flips=True)
  kinds = []
  for step in range(4):
    a, b = next(plain)['image'].numpy()[:, 0, ..., 0], next(flipped)['image'].numpy()[:, 0, ..., 0]
    for x, y in zip(a, b):    # the same example, flipped in one of the four ways
      k = [i for i, f in enumerate((x, x[:, ::-1], x[::-1], x[::-1, ::-1]))
           if np.array_equal(f, y)]
      assert k, 'not a flip of the same example'
      kinds.append(k[0])
  assert len(set(kinds)) == 4                      # all four occur in 32 examples
  resumed = next(ds(random_flips=True, start_step=3))
  again = ds(random_flips=True)
  for _ in range(3):
    next(again)
  np.testing.assert_array_equal(resumed['image'], next(again)['image'])


@pytest.mark.slow
def test_resume_with_other_model_flags_says_which(dummy_data_dir, tmp_path):
  training.train(_cfg(dummy_data_dir, tmp_path / 'w', 'cgan', 1), log=lambda *a: None)
  with pytest.raises(ValueError, match=r"holds a model of another configuration.*"
                                       r"--g_channels: 4 in the workdir, 8 now"):
    training.train(_cfg(dummy_data_dir, tmp_path / 'w', 'cgan', 2, g_channels=8),
                   log=lambda *a: None)
  # flags that do not define the model may change (more steps, another learning rate)
  training.train(_cfg(dummy_data_dir, tmp_path / 'w', 'cgan', 2, g_lr=3e-4), log=lambda *a: None)


def test_a_flag_newer_than_the_stored_run_counts_as_its_default(tmp_path):
  """A workdir from before --floor_output (no key in its config.json) trained without it:
  resuming it with the flag on is refused, with it off (the default) allowed."""
  stored = {'train_config': {k: v for k, v in dataclasses.asdict(
      training.TrainConfig(workdir='w', data_dir='d')).items() if k != 'floor_output'}}
  training.check_resume(training.TrainConfig(workdir='w', data_dir='d'), stored)
  with pytest.raises(ValueError, match='--floor_output: False in the workdir, True now'):
    training.check_resume(training.TrainConfig(workdir='w', data_dir='d', floor_output=True), stored)
