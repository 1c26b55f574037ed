"""The version lookup of a built dataset (taiga_tf.data.dataset_dir): only a build of
the named dataset counts, whatever else sits in its folder."""
import json

import pytest

from taiga_tf import data


def _version(root, folder, **info):
  d = root / folder
  d.mkdir(parents=True)
  if info:
    (d / 'dataset_info.json').write_text(json.dumps(info))
  return d


def test_a_generated_dataset_named_like_a_newer_version_is_not_the_mc(tmp_path):
  """`generate --output_dir=<data_dir>/taiga_iact/simulated_small/1.2.0` must not take the
  MC dataset over for every later train, generate and evaluate."""
  root = tmp_path / 'taiga_iact' / 'simulated_small'
  mc = _version(root, '1.1.0', name='taiga_iact', configName='simulated_small', version='1.1.0')
  _version(root, '1.2.0', name='taiga_iact_generated', version='1.0.0')
  _version(root, '1.3.0', name='taiga_iact', configName='mc', version='1.3.0')     # another config
  _version(root, '1.4.0')                                                         # no info
  _version(root, '1.5.0-old', name='taiga_iact', configName='simulated_small')    # not a version
  (root / '2.0.0').mkdir()
  (root / '2.0.0' / 'dataset_info.json').write_text('{"name": "taiga_')            # cut JSON
  assert data.dataset_dir('taiga_iact/simulated_small', str(tmp_path)) == str(mc)
  with pytest.raises(ValueError, match=r'1.2.0 is not a build of .taiga_iact/simulated_small.: '
                                       r'it holds a taiga_iact_generated dataset'):
    data.dataset_dir('taiga_iact/simulated_small:1.2.0', str(tmp_path))
  with pytest.raises(ValueError, match='it holds a taiga_iact/mc dataset'):
    data.dataset_dir('taiga_iact/simulated_small:1.3.0', str(tmp_path))
  with pytest.raises(FileNotFoundError, match='no version 9.9.9'):
    data.dataset_dir('taiga_iact/simulated_small:9.9.9', str(tmp_path))
  assert data.dataset_dir('taiga_iact/simulated_small:1.1.0', str(tmp_path)) == str(mc)


def test_a_folder_of_foreign_versions_only_is_an_error(tmp_path):
  root = tmp_path / 'lartpc' / 'simulated_small'
  _version(root, '1.0.0', name='taiga_iact_generated', version='1.0.0')
  with pytest.raises(FileNotFoundError, match="no built version of 'lartpc/simulated_small'"):
    data.dataset_dir('lartpc/simulated_small', str(tmp_path))
