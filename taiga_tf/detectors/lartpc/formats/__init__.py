"""LArTPC file formats: larcv3 HDF5 (larcv3.py) and the reference npy arrays (npy_arrays.py)."""
