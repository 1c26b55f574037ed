"""tools/report_table.py on synthetic reports: rows, intervals, baselines, evidence marks."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / 'tools'))
import report_table  # noqa: E402


def _report(auc, evidence):
  m = {'two_sample_auc_image': {'value': auc, 'ci': [auc - 0.02, auc + 0.02],
                                'null_interval': [0.47, 0.53], 'evidence': True},
       'w1_width': {'value': 0.004, 'ci': [0.003, 0.005], 'mc_mc': 0.0015,
                    'mc_mc_range': [0.001, 0.002], 'evidence': evidence}}
  per = {'3': {'energy_tev': [4.0, 6.3], 'n_generated': 40, 'n_mc': 40, 'two_sample_auc_image': 0.7,
               'two_sample_auc_features': 0.6, 'w1_log10_size': 0.1, 'w1_log10_size_mc_mc': 0.05,
               'w1_width': 0.01, 'w1_width_mc_mc': 0.005, 'w1_length': 0.02, 'w1_length_mc_mc': 0.01}}
  return {'particles': {'gamma': {'measures': m, 'per_energy_bin': per, 'n_generated': 100, 'n_mc': 90,
                                  'matched_examples': 80,
                                  'gamma_hadron': {'pass_generated_0.5': 0.9, 'pass_mc_0.5': 0.95}}}}


def test_side_by_side_rows():
  t = report_table.measure_table({'a': _report(0.8, True), 'b': _report(0.55, False)}, 'gamma')
  lines = t.splitlines()
  assert lines[0] == '| measure | a | b | MC vs MC |'
  assert '| two_sample_auc_image | 0.8 [0.78, 0.82] | 0.55 [0.53, 0.57] | null 0.47–0.53 |' in lines
  assert '| w1_width | 0.004 [0.003, 0.005] | 0.004 [0.003, 0.005] (no evidence) | 0.0015 (0.001–0.002) |' in lines
  assert '| recognised as gamma (> 0.5) | 0.900 | 0.900 | MC 0.950 |' in lines
  e = report_table.energy_table(_report(0.8, True), 'gamma')
  assert '| 3: 4–6.3 | 40 / 40 | 0.70 | 0.60 | 0.100 (0.050) | 0.0100 (0.0050) | 0.0200 (0.0100) |' in e
  r = _report(0.8, True)
  r['particles']['gamma']['per_energy_bin']['3']['two_sample_auc_image_ci'] = [0.61, 0.79]
  assert '| 0.70 [0.61, 0.79] | 0.60 |' in report_table.energy_table(r, 'gamma')
