"""Fitting scaling laws to stored training results (Chinchilla approaches 1, 2 and 3).

Imports only numpy, scipy and matplotlib (JAX lazily, inside the vectorised fitter), so a
laptop can fit results that came from a cluster:

    import analysis
    runs = analysis.load("results/NAME")                # RunTable
    fit = analysis.fit_parametric(runs, bootstrap=1000) # approach 3 (one objective/tokenizer)
    iso = analysis.isoflop(runs)                        # approach 2
    env = analysis.envelope_fit(runs)                   # approach 1 (needs training curves)
    fit.law.tokens_per_param(1e22); fit.verdict; fit.plot()
    analysis.fit_all(runs, analysis.FitOptions(bootstrap=200))   # what `scaling fit` does
"""

from analysis.api import fit_all
from analysis.approach1 import EnvelopeFit, envelope_fit
from analysis.approach2 import IsoFlopFit, isoflop
from analysis.csv_table import from_csv
from analysis.fit_settings import FitOptions
from analysis.holdout import Holdout, holdout
from analysis.identify import Verdict
from analysis.laws import REFERENCE_LAWS, KaplanLaw, ParametricLaw, get_law
from analysis.load import load
from analysis.parametric import ParametricFit, fit_parametric
from analysis.table import AnalysisWarning, RunTable
from runstore import InputError

__all__ = [
    "AnalysisWarning", "EnvelopeFit", "FitOptions", "Holdout", "InputError",
    "IsoFlopFit", "KaplanLaw", "ParametricFit", "ParametricLaw", "REFERENCE_LAWS", "RunTable",
    "Verdict", "envelope_fit", "fit_all", "fit_parametric", "from_csv", "get_law", "holdout",
    "isoflop", "load",
]
