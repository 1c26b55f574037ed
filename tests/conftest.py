"""Shared test fixtures: reference data from ../shared (skipped when absent)."""
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get('TAIGA_TF_SHARED', REPO.parent / 'shared'))
PIXEL_TABLE = SHARED / 'reference' / 'taiga_iact' / 'XY_turn_2020jan2tel_18fix.txt'


LARCV3_SAMPLE = SHARED / 'reference' / 'lartpc' / 'larcv3_sample.h5'


def shared_file(path: pathlib.Path, what: str) -> pathlib.Path:
  """A reference file of ../shared, or a clean skip when this checkout has none."""
  if not path.exists():
    pytest.skip(f'{what} not found at {path}')
  return path


@pytest.fixture
def pixel_table_2020():
  return shared_file(PIXEL_TABLE, 'reference pixel table')


@pytest.fixture
def larcv3_sample():
  return shared_file(LARCV3_SAMPLE, 'larcv3 sample')


@pytest.fixture(scope='session')
def dummy_data_dir(tmp_path_factory):
  """The builder's `mc` config built from dummy_data: a real, tiny taiga_iact dataset."""
  import tensorflow_datasets as tfds
  from builder_utils import BUILDER_DIR, load_builder_module
  d = tmp_path_factory.mktemp('tfds')
  b = load_builder_module().Builder(config='mc', data_dir=d)
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(BUILDER_DIR / 'dummy_data')))
  return d


@pytest.fixture(scope='session')
def smoke_saved_model(dummy_data_dir, tmp_path_factory):
  """A cGAN trained for a few steps on the dummy dataset and exported."""
  from taiga_tf import training
  workdir = tmp_path_factory.mktemp('smoke_run')
  cfg = training.TrainConfig(workdir=str(workdir), data_dir=str(dummy_data_dir),
                             dataset='taiga_iact/mc', steps=6, batch_size=8, g_channels=4,
                             d_channels=4, z_dim=8, embed_dim=8, log_every=3, eval_every=0,
                             ckpt_every=6)
  summary = training.train(cfg, log=lambda *a: None)
  return summary['saved_model']


@pytest.fixture(scope='session')
def diffusion_saved_model(dummy_data_dir, tmp_path_factory):
  """A score model trained for a few steps on the dummy dataset and exported."""
  from taiga_tf import training
  workdir = tmp_path_factory.mktemp('diffusion_run')
  cfg = training.TrainConfig(workdir=str(workdir), data_dir=str(dummy_data_dir),
                             dataset='taiga_iact/mc', model='diffusion', steps=4, batch_size=8,
                             channels=8, channel_mult='1,2', num_res_blocks=1,
                             attn_resolutions='16', emb_dim=16, log_every=2, eval_every=0,
                             ckpt_every=4, sampler='dpmpp_2m', num_steps=3)
  summary = training.train(cfg, log=lambda *a: None)
  return summary['saved_model']
