"""Markdown tables of fidelity reports (`taiga_tf.evaluate` report.json files), side by side.

  .venv/bin/python tools/report_table.py NAME=out/reports/cgan_image/report.json \
      NAME2=out/reports/diffusion_signal/report.json [--particle=gamma] [--per_energy_bin]

One row per measure: value [bootstrap 95 % interval] per report, the MC-vs-MC
baseline of the first report (for the AUCs: the interval where a test without
power falls), and "no evidence" where the calibration found the measure blind to
noise or to the other particle. With --per_energy_bin: the per-energy-bin
two-sample AUCs and W1 of size, width and length of each report.
"""
import argparse
import json


def _fmt(v, digits=3):
  if v is None:
    return '—'
  return f'{v:.{digits}g}'


def measure_table(reports: dict, particle: str) -> str:
  names = list(reports)
  first = reports[names[0]]['particles'][particle]
  head = '| measure | ' + ' | '.join(names) + ' | MC vs MC |'
  rows = [head, '|---|' + '---|' * (len(names) + 1)]
  for m, v0 in first['measures'].items():
    cells = []
    for n in names:
      v = reports[n]['particles'].get(particle, {}).get('measures', {}).get(m)
      if v is None:
        cells.append('—')
        continue
      c = f'{_fmt(v["value"])} [{_fmt(v["ci"][0], 2)}, {_fmt(v["ci"][1], 2)}]'
      if v.get('evidence') is False:
        c += ' (no evidence)'
      cells.append(c)
    base = (f'{_fmt(v0["mc_mc"])} ({_fmt(v0["mc_mc_range"][0], 2)}–{_fmt(v0["mc_mc_range"][1], 2)})'
            if 'mc_mc' in v0 else
            f'null {v0["null_interval"][0]:.2f}–{v0["null_interval"][1]:.2f}')
    rows.append(f'| {m} | ' + ' | '.join(cells) + f' | {base} |')
  extra = []
  for n in names:
    g = reports[n]['particles'].get(particle, {}).get('gamma_hadron')
    if g:
      extra.append(f'{g["pass_generated_0.5"]:.3f}')
  if extra:
    g0 = first['gamma_hadron']
    rows.append(f'| recognised as {particle} (> 0.5) | ' + ' | '.join(extra)
                + f' | MC {g0["pass_mc_0.5"]:.3f} |')
  rows.append('| events (generated / MC / class-matched) | ' + ' | '.join(
      f'{reports[n]["particles"][particle]["n_generated"]} / {reports[n]["particles"][particle]["n_mc"]} / '
      f'{reports[n]["particles"][particle]["matched_examples"]}' if particle in reports[n]['particles'] else '—'
      for n in names) + ' | |')
  return '\n'.join(rows)


def energy_table(report: dict, particle: str) -> str:
  per = report['particles'][particle]['per_energy_bin']
  rows = ['| energy bin (TeV) | events gen / MC | AUC image | AUC features | W1 log size (MC-MC) | '
          'W1 width (MC-MC) | W1 length (MC-MC) |', '|---|---|---|---|---|---|---|']

  def cell(r, key, fmt):
    ci = r.get(f'{key}_ci')
    s = format(r[key], fmt)
    return s + (f' [{format(ci[0], fmt)}, {format(ci[1], fmt)}]' if ci else '')
  for k in sorted(per, key=int):
    r = per[k]
    rows.append(f'| {k}: {r["energy_tev"][0]:.2g}–{r["energy_tev"][1]:.2g} | {r["n_generated"]} / {r["n_mc"]} | '
                f'{cell(r, "two_sample_auc_image", ".2f")} | {cell(r, "two_sample_auc_features", ".2f")} | '
                f'{cell(r, "w1_log10_size", ".3f")} ({r["w1_log10_size_mc_mc"]:.3f}) | '
                f'{cell(r, "w1_width", ".4f")} ({r["w1_width_mc_mc"]:.4f}) | '
                f'{cell(r, "w1_length", ".4f")} ({r["w1_length_mc_mc"]:.4f}) |')
  return '\n'.join(rows)


def main():
  ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  ap.add_argument('reports', nargs='+', help='NAME=path/to/report.json')
  ap.add_argument('--particle', default='gamma')
  ap.add_argument('--per_energy_bin', action='store_true')
  args = ap.parse_args()
  reports = {}
  for item in args.reports:
    name, _, path = item.partition('=')
    with open(path) as f:
      reports[name] = json.load(f)
  print(measure_table(reports, args.particle))
  if args.per_energy_bin:
    for name, rep in reports.items():
      print(f'\n{name}:\n')
      print(energy_table(rep, args.particle))


if __name__ == '__main__':
  main()
