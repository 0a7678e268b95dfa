"""Errors raised by the analysis package.

One exception type for every problem with the *input* (a missing folder, a corrupt
summary.json, a CSV without a needed column, an unknown law name), so that the CLI can
turn it into one clear message and exit code 2 without a traceback.
"""

from __future__ import annotations


class AnalysisInputError(ValueError):
    """Bad input to the analysis package: the message names the file, the key and the fix."""


def input_error(where: str, key: str | None, problem: str, fix: str) -> AnalysisInputError:
    """Build an AnalysisInputError whose message always says where, what and how to fix it."""
    key_part = f" (key/column {key!r})" if key else ""
    return AnalysisInputError(f"{where}{key_part}: {problem}. Fix: {fix}")
