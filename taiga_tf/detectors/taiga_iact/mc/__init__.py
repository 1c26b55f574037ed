"""Built-in Monte Carlo of gamma and proton showers seen by one TAIGA-IACT telescope.

Numpy only (no TensorFlow import). Writes the chain's `*_cbN.txt` text format.
"""
