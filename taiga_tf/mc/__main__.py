"""Runs `python -m taiga_tf.detectors.taiga_iact.mc` (same flags, same output)."""
from absl import app

from taiga_tf.detectors.taiga_iact.mc.__main__ import main

if __name__ == '__main__':
  app.run(main)
