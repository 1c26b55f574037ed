"""The builders on Apache Beam (DirectRunner, two worker processes) give the plain build's dataset.

Same examples in the same order in each split (read in shard order), the same number of
shards, the same metadata tallies. Two things may differ and are not compared: where the
shard boundaries fall (the plain writer cuts a split into equal counts, Beam's writer into
equal ranges of the key hash) and the bytes of a record (a serialized proto map, the
feature dict, may come in another order from another process): records are compared as
parsed tf.train.Examples.
"""
import json
import os
import subprocess
import sys

import apache_beam as beam
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from builder_utils import DATASETS_DIR, load_builder_module

BEAM_ARGS = ['--runner=DirectRunner', '--direct_num_workers=2',
             '--direct_running_mode=multi_processing']


def _build(name, config, manual, data_dir, beam_args=None, num_shards=2):
  opts = beam.options.pipeline_options.PipelineOptions(beam_args) if beam_args else None
  b = load_builder_module(name).Builder(config=config, data_dir=data_dir)
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(manual), beam_options=opts, num_shards=num_shards))
  return b


def _records(version_dir):
  """{split: its examples in shard order}, {shard file names}."""
  out, names = {}, set()
  for f in sorted(version_dir.glob('*.tfrecord-*')):
    names.add(f.name)
    split = f.name.split('.tfrecord')[0].split('-')[-1]
    out.setdefault(split, []).extend(
        tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(f)))
  return out, names


def _assert_same_dataset(plain, on_beam):
  p_dir, b_dir = plain.data_path, on_beam.data_path
  (p, p_names), (b, b_names) = _records(p_dir), _records(b_dir)
  assert p_names == b_names
  assert sorted(p) == sorted(b) and sum(len(v) for v in p.values()) > 0
  for split in p:
    assert len(p[split]) == len(b[split]), split
    assert p[split] == b[split], split
  assert plain.info.metadata == on_beam.info.metadata
  for split in plain.info.splits:
    assert plain.info.splits[split].num_examples == on_beam.info.splits[split].num_examples
  # what a later `tfds.builder_from_directory` reads
  meta_p = json.loads((p_dir / 'metadata.json').read_text())
  meta_b = json.loads((b_dir / 'metadata.json').read_text())
  assert meta_p == meta_b


@pytest.mark.slow
def test_taiga_iact_beam_build_equals_plain_build(tmp_path):
  manual = DATASETS_DIR / 'taiga_iact' / 'dummy_data'
  plain = _build('taiga_iact', 'mc', manual, tmp_path / 'plain')
  on_beam = _build('taiga_iact', 'mc', manual, tmp_path / 'beam', BEAM_ARGS)
  _assert_same_dataset(plain, on_beam)
  counts = on_beam.info.metadata['class_counts']
  assert sum(sum(v) for split in counts.values() for v in split.values()) == sum(
      s.num_examples for s in on_beam.info.splits.values())
  assert sum(on_beam.info.metadata['signal_counts']['train'].values()) > 0
  assert not list((tmp_path / 'beam' / 'downloads' / 'beam_tally').glob('*'))   # read, removed


@pytest.mark.slow
def test_lartpc_beam_build_equals_plain_build(tmp_path):
  manual = DATASETS_DIR / 'lartpc' / 'dummy_data'
  plain = _build('lartpc', 'larcv3', manual, tmp_path / 'plain')
  on_beam = _build('lartpc', 'larcv3', manual, tmp_path / 'beam', BEAM_ARGS)
  _assert_same_dataset(plain, on_beam)
  assert sum(on_beam.info.metadata['class_counts']['train']) == on_beam.info.splits['train'].num_examples


@pytest.mark.slow
def test_tfds_build_cli_with_beam_pipeline_options(tmp_path):
  """The command the README gives, through the stock `tfds build` CLI."""
  manual = DATASETS_DIR / 'lartpc' / 'dummy_data'
  tfds_cli = os.path.join(os.path.dirname(sys.executable), 'tfds')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  r = subprocess.run(
      [tfds_cli, 'build', str(DATASETS_DIR / 'lartpc'), '--config=npy', f'--manual_dir={manual}',
       f'--data_dir={tmp_path / "data"}', '--beam_pipeline_options=' + ','.join(
           a.lstrip('-') for a in BEAM_ARGS)],
      capture_output=True, text=True, env=env, timeout=600, check=False)
  assert r.returncode == 0, r.stderr[-3000:]
  built = tfds.builder_from_directory(str(tmp_path / 'data' / 'lartpc' / 'npy' / '1.0.0'))
  assert {k: v.num_examples for k, v in built.info.splits.items()} == {
      'train': 15, 'validation': 1, 'test': 6}
  assert sum(built.info.metadata['class_counts']['test']) == 6   # the tally, read back


def test_tally_of_an_unfinished_pipeline_is_an_error(tmp_path):
  """A pipeline that wrote no tally (a failed or cancelled run) cannot pass as built."""
  b = load_builder_module('lartpc').Builder(config='npy', data_dir=tmp_path)
  b._tally_dir = tmp_path / 'tally'   # pylint: disable=protected-access
  b._beam_splits = ['train']          # pylint: disable=protected-access
  with pytest.raises(RuntimeError, match='wrote no tally'):
    b._process_pipeline_result(None)  # pylint: disable=protected-access
