"""The liquid-argon TPC detector: formats, built-in MC, physics features, plots."""
