"""What the TFDS builders of every detector share (datasets/<name>/*_dataset_builder.py).

- `split_of`: a split from a stable hash of a key, so the same event always lands
  in the same split, whatever else is in the build;
- `ConfiguredShards`: a builder mixin giving each config its own shard count
  (TFDS 4.9 sizes shards from class-level defaults of >= 64 MiB, which would put
  a small config in one shard per split; `tfds build --num_shards=N` still wins);
- `simulate_once`: runs a built-in MC job per particle in two processes, once,
  cached under the download dir with a DONE.json of the jobs' summaries;
- `WorkUnits`: a builder mixin that makes a split from independent work units
  (event files) with a picklable example maker from taiga_tf, either in this
  process or, when `tfds build` gets `--beam_pipeline_options` (or a Beam
  runner), as an Apache Beam pipeline: the same examples under the same keys and
  the same metadata tallies, on DirectRunner here or Dataflow / Flink / Spark.
"""
from __future__ import annotations

import collections
import concurrent.futures
import json
import uuid
import zlib

SPLIT_FRACTIONS = (('train', 80), ('validation', 10), ('test', 10))


def split_of(key: str, fractions=SPLIT_FRACTIONS) -> str:
  h = zlib.crc32(key.encode()) % 100
  acc = 0
  for name, frac in fractions:
    acc += frac
    if h < acc:
      return name
  return fractions[-1][0]


def refuse_same_files(paths) -> None:
  """A ValueError naming both when two of `paths` are one file (a link, or one path twice):
  its events would be read twice under two names. Remote paths are not checked."""
  import os  # pylint: disable=g-import-not-at-top
  seen = {}
  for p in paths:
    p = os.fspath(p)
    if '://' in p:
      continue
    try:
      st = os.stat(p)
    except OSError:
      continue                          # the reader says what is wrong with it
    key = (st.st_dev, st.st_ino)
    if key in seen:
      raise ValueError(f'{seen[key]} and {p} are the same file (a link?): its events would be '
                       'read twice; keep one of them')
    seen[key] = p


class ConfiguredShards:
  """Mixin for tfds.core.GeneratorBasedBuilder: shards per split from `config.num_shards`."""

  def _generate_splits(self, dl_manager, download_config):
    if download_config.num_shards is None and getattr(self.builder_config, 'num_shards', None):
      download_config = download_config.replace(num_shards=self.builder_config.num_shards)
    return super()._generate_splits(dl_manager, download_config)


def simulate_once(out_dir, fn, jobs, tag: str) -> list:
  """fn(job) for every job in two processes, unless `out_dir/DONE.json` says it ran.

  fn returns a summary dict with 'particle', 'events', 'seconds', 'events_per_s'.
  """
  done = out_dir / 'DONE.json'
  if done.exists():
    return json.loads(done.read_text())
  print(f'{tag}: simulating into {out_dir}')
  with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
    summaries = list(pool.map(fn, jobs))
  for s in summaries:
    print(f"{tag}: {s['particle']}: {s['events']} events in {s['seconds']:.0f} s "
          f"({s['events_per_s']:.1f} events/s)")
  out_dir.mkdir(parents=True, exist_ok=True)
  done.write_text(json.dumps([{k: v for k, v in s.items() if k not in ('files', 'signal_files')}
                              for s in summaries], indent=1))
  return summaries


class WorkUnits:
  """Mixin for tfds.core.GeneratorBasedBuilder: a split from work units, local or on Beam.

  The builder's `_split_generators` returns `self._generate_examples(maker, units, split)` per
  split, where `units` is a list of picklable work units (e.g. (particle, path) of one
  event file) and `maker` a picklable object of an importable module (Beam workers
  import it; the builder module itself is not importable there) with
    maker(unit, split) -> iterator of (key, example) of that split in the unit,
    maker.tally(example) -> iterable of str: what the metadata counts of an example;
  and the builder implements `_set_tally(split, counts: dict[str, int])`, which writes
  the counts into `self.info.metadata`.

  Without Beam options the units run in order in this process. With them (`tfds build
  --beam_pipeline_options=...`, or DownloadConfig(beam_options=...)), each split is a
  Beam PTransform: units -> reshuffle -> examples, and a branch that counts the tallies
  and writes them to `<download_dir>/beam_tally/...`, read back after the pipeline
  (`_process_pipeline_result`). TFDS orders examples by the hash of their key in both
  modes, so both give the same records in the same shards.
  """

  def _download_and_prepare(self, dl_manager, download_config):  # pylint: disable=arguments-differ
    self._use_beam = bool(download_config.beam_runner or download_config.beam_options)
    cfg = self.builder_config
    # one folder per build: two builds at once do not read each other's tallies
    self._tally_dir = (_path(dl_manager.download_dir) / 'beam_tally' /
                       f'{self.name}-{cfg.name}-{self.version}-{uuid.uuid4().hex[:12]}')
    self._beam_splits = []
    return super()._download_and_prepare(dl_manager, download_config)

  def _generate_examples(self, maker, units, split):  # pylint: disable=arguments-differ
    """The split's examples: a generator, or a beam.PTransform when building on Beam."""
    if getattr(self, '_use_beam', False):
      self._tally_dir.mkdir(parents=True, exist_ok=True)
      tally_file = self._tally_dir / f'{split}.json'
      self._beam_splits.append(split)
      return _beam_split(maker, list(units), split, str(tally_file))
    return self._local_examples(maker, units, split)

  def _local_examples(self, maker, units, split):
    """The units' examples in this process; two examples of one key, or none at all, are
    ValueErrors naming the files (TFDS would fail later with its hashed key or
    "No examples were yielded", without them)."""
    tally = collections.Counter()
    describe = getattr(maker, 'describe', repr)
    first_unit = {}                       # key -> index of the unit that gave it
    for k, unit in enumerate(units):
      for key, ex in maker(unit, split):
        j = first_unit.get(key)
        first_unit[key] = k
        if j is not None:
          where = (f'{describe(units[j])} and {describe(unit)}' if j != k
                   else f'{describe(unit)} (twice)')
          raise ValueError(f'{self.name}: two examples of split {split!r} have the key {key!r}: '
                           f'{where}: the same event read twice (a file given twice, or an '
                           'event listed twice)')
        tally.update(maker.tally(ex))
        yield key, ex
    if not first_unit:
      why = getattr(maker, 'why_empty', None)
      names = [describe(u) for u in units[:5]] + ([f'... ({len(units) - 5} more)']
                                                  if len(units) > 5 else [])
      raise ValueError(f'{self.name} ({self.builder_config.name}): split {split!r} has no '
                       f'example: {why(split) if why else "the sources yielded none"}; read '
                       f'{len(units)} file(s): {", ".join(names) or "none"}')
    self._set_tally(split, dict(tally))

  def _process_pipeline_result(self, pipeline_result):
    state = getattr(pipeline_result, 'state', None)
    for split in self._beam_splits:
      tally_file = self._tally_dir / f'{split}.json'
      if not tally_file.exists():
        raise RuntimeError(f'the Beam pipeline (state {state}) wrote no tally of split {split!r} '
                           f'({tally_file}): the build did not finish')
      self._set_tally(split, json.loads(tally_file.read_text()))
    if self._beam_splits:
      self._tally_dir.rmtree(missing_ok=True)

  def _set_tally(self, split: str, counts: dict):
    raise NotImplementedError


def _path(p):
  from etils import epath  # pylint: disable=g-import-not-at-top
  return epath.Path(p)


def _unit_examples(unit, split, maker):
  return maker(unit, split)


def _tally_pairs(key_example, maker):
  return maker.tally(key_example[1])


def _write_tally(pairs, path):
  _path(path).write_text(json.dumps(dict(sorted(pairs)), indent=0))


def _beam_split(maker, units, split, tally_file):
  """The Beam PTransform of one split: PBegin -> PCollection of (key, example)."""
  import apache_beam as beam  # pylint: disable=g-import-not-at-top

  class _Split(beam.PTransform):

    def expand(self, pbegin):
      examples = (pbegin
                  | 'Units' >> beam.Create(units)
                  | 'Spread' >> beam.Reshuffle()
                  | 'Examples' >> beam.FlatMap(_unit_examples, split, maker))
      _ = (examples
           | 'Tally' >> beam.FlatMap(_tally_pairs, maker)
           | 'Count' >> beam.combiners.Count.PerElement()
           | 'Gather' >> beam.combiners.ToList()
           | 'WriteTally' >> beam.Map(_write_tally, tally_file))
      return examples

  return _Split()
