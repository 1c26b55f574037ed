"""Fidelity reports of generated datasets against held-out MC, per detector.

    report = evaluation.evaluate(EvalConfig(generated=..., reference=..., ...))
    print(evaluation.summary_table(report))

The reference dataset's metadata names its detector; the report is the module
`taiga_tf.evaluation.<detector>.report` (its `evaluate`, `calibrate`,
`summary_table`, `summary_lines`), built on the shared parts in
`taiga_tf.evaluation.common` (classifiers, intervals, baselines, TensorBoard),
`taiga_tf.evaluation.inputs` (every argument and input checked before any work) and
`taiga_tf.evaluation.calibration` (what wrong sets say of each measure).
"""
from __future__ import annotations

import importlib

from taiga_tf import data as data_lib
from taiga_tf import detectors
from taiga_tf.evaluation import inputs
from taiga_tf.evaluation.common import EvalConfig, NoOverlapError, calibration_path  # noqa: F401


def report_module(name: str):
  """The report module of detector `name`."""
  try:
    return importlib.import_module(f'taiga_tf.evaluation.{name}.report')
  except ModuleNotFoundError as e:
    if e.name and e.name.startswith(f'taiga_tf.evaluation.{name}'):
      raise ValueError(f'no fidelity report for detector {name!r} yet '
                       f'(taiga_tf/evaluation/{name}/report.py)') from None
    raise


def _open(cfg: EvalConfig):
  spec = data_lib.open_dataset(cfg.reference, cfg.data_dir)
  return spec, report_module(spec.detector.name)


def evaluate(cfg: EvalConfig, log=print) -> dict:
  """The report of cfg.generated against the reference MC (report.json, plots, TensorBoard).
  Every argument and input is checked before any work (inputs.start_report): a bad one is
  a ValueError (or FileNotFoundError, ...) naming the flag, folder or split."""
  inputs.check_config(cfg)
  spec, module = _open(cfg)
  return module.evaluate(cfg, log, spec)


def calibrate(cfg: EvalConfig, log=print) -> dict:
  """The report's measures on deliberately wrong sets (calibration.json, calibration.md)."""
  inputs.check_config(cfg)
  spec, module = _open(cfg)
  return module.calibrate(cfg, log, spec)


def summary_table(report: dict) -> str:
  return report_module(detectors.detector_name(report)).summary_table(report)


def summary_lines(report: dict, mc_split: str) -> list[str]:
  """The one-line summaries the app ends with (one per particle)."""
  return report_module(detectors.detector_name(report)).summary_lines(report, mc_split)
