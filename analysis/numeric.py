"""numpy's floating-point warnings during a fit, caught and said once, in words.

A bare "overflow encountered in exp" tells a user nothing: which fit, how often, and whether
it matters.  During a fit these come from starts or bootstrap resamples that wander to huge
exponents (approach 3) or nearly flat parabolas (approach 2), which the fitters then discard;
they do not touch the reported numbers unless the verdict says so.  ``numeric_warnings``
collects every RuntimeWarning raised inside its block and re-issues them as one
AnalysisWarning naming the fit.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from typing import Iterator

_MEANING = ("floating-point trouble in discarded starts or resamples (huge exponents, flat "
            "curves); the reported numbers are the finite ones, see the verdict")


@contextlib.contextmanager
def numeric_warnings(where: str) -> Iterator[None]:
    """Collect RuntimeWarnings in the block; one AnalysisWarning line for all of them."""
    from analysis.table import AnalysisWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        yield
    numeric, other = [], []
    for w in caught:
        (numeric if issubclass(w.category, RuntimeWarning) else other).append(w)
    for w in other:  # the fit's own warnings pass through unchanged
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if numeric:
        kinds = Counter(str(w.message) for w in numeric)
        said = "; ".join(f"{m} x{n}" for m, n in kinds.most_common(3))
        warnings.warn(f"{where}: numpy reported {said}: {_MEANING}", AnalysisWarning, stacklevel=3)
