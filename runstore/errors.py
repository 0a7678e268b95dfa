"""The suite's one error type and its one CLI policy (message format, exit codes).

Every bad input (a config, a sweep file, a corpus, a results file, a CSV, a path the file system
refuses) is an `InputError`; a command prints it as one line `error: FILE[:LINE]: key 'a.b':
what (fix: ...)` and exits with code 2.
"""
from __future__ import annotations

import sys
from typing import Callable


class InputError(ValueError):
    """Bad user input (a config, a corpus, a results file, a CSV): the CLI prints one line
    `error: FILE[:LINE]: key 'a.b': what (fix: ...)` and exits with code 2."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None, fix: str | None = None):
        self.detail, self.file, self.line, self.key, self.fix = message, file, line, key, fix
        head = [f"{file}:{line}" if file and line else str(file)] if file else []
        if key:
            head.append(f"key '{key}'")
        text = ": ".join([*head, message])
        super().__init__(f"{text} (fix: {fix})" if fix else text)

    def located(self, file: str | None = None, *, prefix: str | None = None) -> "InputError":
        """The same error with the file filled in (if it had none) and the key under `prefix`."""
        key = f"{prefix}.{self.key}" if prefix and self.key else (self.key or prefix)
        where = self.file if self.file not in (None, "<config>") else file
        return type(self)(self.detail, file=where, line=self.line, key=key, fix=self.fix)


def cli_main(fn: Callable[[], int | None]) -> int:
    """Run a command; bad input is one line on stderr and exit code 2, Ctrl-C is 130."""
    try:
        return int(fn() or 0)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
