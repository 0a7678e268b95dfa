"""The suite's one input-error type (analysis/contract.py), under the names scaling's code uses.

`ConfigError` is the same class: a config or sweep file that fails validation is bad input like
any other, printed as `error: FILE[:LINE]: key 'a.b': what (fix: ...)` with exit code 2.
"""
from analysis.contract import InputError

ConfigError = InputError

__all__ = ["ConfigError", "InputError"]
