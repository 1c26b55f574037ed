"""What the TFDS builders of every detector share (datasets/<name>/*_dataset_builder.py).

- `split_of`: a split from a stable hash of a key, so the same event always lands
  in the same split, whatever else is in the build;
- `ConfiguredShards`: a builder mixin giving each config its own shard count
  (TFDS 4.9 sizes shards from class-level defaults of >= 64 MiB, which would put
  a small config in one shard per split; `tfds build --num_shards=N` still wins);
- `simulate_once`: runs a built-in MC job per particle in two processes, once,
  cached under the download dir with a DONE.json of the jobs' summaries.
"""
from __future__ import annotations

import concurrent.futures
import json
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
