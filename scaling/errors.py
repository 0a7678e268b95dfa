"""User-facing input errors: they name the file, the key and the fix, and exit with code 2."""
from __future__ import annotations


class InputError(Exception):
    """Bad user input (config, corpus, results file). The CLI prints it and exits 2."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None,
                 fix: str | None = None):
        self.file, self.key, self.fix, self.detail = file, key, fix, message
        parts = []
        if file:
            parts.append(str(file))
        if key:
            parts.append(f"key '{key}'")
        head = ": ".join(parts)
        text = f"{head}: {message}" if head else message
        if fix:
            text += f" (fix: {fix})"
        super().__init__(text)


class ConfigError(InputError):
    """A config or sweep file that fails validation."""
