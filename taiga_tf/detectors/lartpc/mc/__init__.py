"""Built-in LArTPC Monte Carlo (numpy only): physics.py, simulate.py, the CLI in __main__.py."""
