"""Diffusion math in plain TensorFlow, apart from any Keras state.

edm.py      EDM preconditioning, training noise, loss weight, the rho schedule
sde.py      the score-SDE view (VP, VE) of the same denoiser, and conversions
solvers.py  samplers as pure functions of a denoiser D(x, sigma): EDM Heun,
            EDM stochastic, DPM-Solver++(2M), Euler-Maruyama and
            predictor-corrector on the VP SDE
"""
