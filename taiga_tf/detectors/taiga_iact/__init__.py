"""TAIGA-IACT: the hexagonal PMT camera, the chain's text formats, the built-in MC of
gamma and proton showers, Hillas parameters, drawing, and the detector object."""
