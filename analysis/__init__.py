"""Fitting scaling laws to stored training results (Chinchilla approaches 1, 2 and 3).

Imports only numpy and scipy at ``import analysis`` (matplotlib on first use of a plot
function or of ``analysis.plots``; JAX lazily, inside the vectorised fitter), so a laptop can
fit results that came from a cluster:

    import analysis
    runs = analysis.load("results/NAME")                # RunTable
    fit = analysis.fit_parametric(runs, bootstrap=1000) # approach 3 (one objective/tokenizer)
    iso = analysis.isoflop(runs, bootstrap=200)         # approach 2
    env = analysis.envelope_fit(runs)                   # approach 1 (needs training curves)
    fit.law.tokens_per_param(1e22); fit.verdict; fit.plot(); fit.to_pandas()
    analysis.holdout(runs, 2, bootstrap=100)            # fit the smaller budgets, predict the largest
    analysis.plot_frontier([iso, fit])                  # loss against compute
    analysis.fit_all(runs, bootstrap=200)               # what `scaling fit` does
    prec = analysis.fit_precision("results/cpu_precision", bootstrap=100)  # Kumar et al.'s laws
    prec.training.law.gamma_w; prec.post.verdict; analysis.plot_ptq(prec.ptq, prec.post)

Every function that takes a FitOptions also takes its settings as keywords, checked the same
way.  Figures draw in your matplotlib style; ``plt.style.use("analysis.paper")`` is the
suite's (analysis/figstyle.py).
"""

from typing import Any

from analysis.api import fit_all
from analysis.approach1 import EnvelopeFit, envelope_fit
from analysis.approach2 import IsoFlopFit, isoflop
from analysis.csv_table import from_csv
from analysis.fit_settings import FitOptions
from analysis.holdout import Holdout, format_holdout, holdout
from analysis.identify import Verdict
from analysis.laws import REFERENCE_LAWS, KaplanLaw, ParametricLaw, get_law
from analysis.load import load
from analysis.parametric import ParametricFit, fit_parametric
from analysis.power_law import PowerAllocation
from analysis.precision_cli import PrecisionReport
from analysis.precision_cli import fit_folder as fit_precision
from analysis.table import AnalysisWarning, RunTable
from runstore import InputError

#: Plot functions, imported (with matplotlib) on first use: name -> module.
_LAZY = {"plot_isoflop": "analysis.plots", "plot_allocation": "analysis.plots",
         "plot_ratio": "analysis.plots", "plot_contours": "analysis.plots",
         "plot_residuals": "analysis.plots", "plot_curves": "analysis.plots",
         "plot_frontier": "analysis.plots_more", "plot_holdout": "analysis.plots_more",
         "overlay_isoflop": "analysis.compare", "style": "analysis.figstyle",
         "plot_loss_vs_bits": "analysis.precision_plots", "plot_ptq": "analysis.precision_plots",
         "plot_optimal_precision": "analysis.precision_plots"}
#: Modules reachable as attributes, imported on first use.
_MODULES = ("plots", "figstyle", "compare")

__all__ = [
    "AnalysisWarning", "EnvelopeFit", "FitOptions", "Holdout", "InputError",
    "IsoFlopFit", "KaplanLaw", "ParametricFit", "ParametricLaw", "PowerAllocation",
    "PrecisionReport", "fit_precision",
    "REFERENCE_LAWS", "RunTable", "Verdict", "envelope_fit", "fit_all", "fit_parametric",
    "format_holdout", "format_table", "from_csv", "get_law", "holdout", "isoflop", "load",
    *sorted(_LAZY), *_MODULES,
]


def __getattr__(name: str) -> Any:
    """analysis.plots, analysis.plot_isoflop, ...: imported on first use (matplotlib)."""
    import importlib

    if name in _MODULES:
        return importlib.import_module(f"analysis.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "format_table":
        from analysis.cli import format_table
        return format_table
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names only (not the modules the package is made of)."""
    return sorted(__all__)
