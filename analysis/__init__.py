"""Fitting scaling laws to stored training results (Chinchilla approaches 1, 2 and 3).

Imports only numpy, scipy and matplotlib (JAX lazily, inside the vectorised fitter), so a
laptop can fit results that came from a cluster:

    import analysis
    runs = analysis.load("results/NAME")
    fit = analysis.fit_parametric(runs, bootstrap=1000)
    fit.law.tokens_per_param(1e22); fit.plot()
"""

from analysis.errors import AnalysisInputError
from analysis.laws import REFERENCE_LAWS, KaplanLaw, ParametricLaw, get_law

__all__ = ["AnalysisInputError", "REFERENCE_LAWS", "KaplanLaw", "ParametricLaw", "get_law"]
