"""Fitting scaling laws to stored training results (Chinchilla approaches 1, 2 and 3).

Imports only numpy, scipy and matplotlib (JAX lazily, inside the vectorised fitter), so a
laptop can fit results that came from a cluster:

    import analysis
    runs = analysis.load("results/NAME")                # RunTable
    fit = analysis.fit_parametric(runs, bootstrap=1000) # approach 3 (one objective/tokenizer)
    iso = analysis.isoflop(runs)                        # approach 2
    env = analysis.envelope_fit(runs)                   # approach 1 (needs training curves)
    fit.law.tokens_per_param(1e22); fit.plot()
"""

from analysis.approach1 import EnvelopeFit, envelope_fit
from analysis.approach2 import IsoFlopFit, isoflop
from analysis.contract import InputError
from analysis.laws import REFERENCE_LAWS, KaplanLaw, ParametricLaw, get_law
from analysis.load import AnalysisWarning, RunTable, from_csv, load
from analysis.parametric import ParametricFit, fit_parametric

#: The results contract's one input-error type, under its old name (notebooks use it).
AnalysisInputError = InputError

__all__ = [
    "AnalysisInputError", "AnalysisWarning", "EnvelopeFit", "InputError", "IsoFlopFit", "KaplanLaw",
    "ParametricFit", "ParametricLaw", "REFERENCE_LAWS", "RunTable", "envelope_fit",
    "fit_parametric", "from_csv", "get_law", "isoflop", "load",
]
