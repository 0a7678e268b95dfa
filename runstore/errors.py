"""The suite's one error type and its one CLI policy (message format, exit codes).

Every bad input (a config, a sweep file, a corpus, a results file, a CSV, a flag, a path the
file system refuses) is an `InputError`; a command prints it as one line `error: FILE[:LINE]:
key 'a.b': what (fix: ...)` and exits with code 2. `cli_main` is that policy, for both entry
points (`scaling`, `python -m analysis`): bad input 2, Ctrl-C 130, output closed by a reader
(`| head`) 141 without a traceback, a bug 1 with its traceback. `CommandParser` makes a usage
error the same one line, and `deprecated` keeps an old flag spelling working with one warning.
"""
from __future__ import annotations

import argparse
import errno
import os
import re
import sys
import traceback
import warnings
from typing import Any, Callable


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


#: What a user can do about a file-system refusal, by errno.
_OS_FIXES = {
    errno.EROFS: "choose a writable folder (--out)",
    errno.EACCES: "check the permissions, or choose another folder (--out)",
    errno.EPERM: "check the permissions, or choose another folder (--out)",
    errno.ENOSPC: "free some space, or choose another disk (--out)",
    errno.EDQUOT: "free some space, or choose another disk (--out)",
    errno.EFBIG: "a file-size limit was reached (ulimit -f, or the filesystem's): raise it, "
                 "or choose another disk (--out)",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path (--out)",
    errno.EEXIST: "the path is taken by a file: choose a folder (--out)",
    errno.EISDIR: "the path is a folder: give a file",
    errno.ENOENT: "check the path",
}
#: Refusals that are about the disk, not a path, and so may come without a file name.
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


def os_input_error(e: OSError) -> InputError | None:
    """A file-system refusal as bad input (`error: PATH: what`), or None for an OSError that is
    not about a path (a socket, a bug): those stay tracebacks."""
    if e.filename is None and e.errno not in _DISK_ERRNOS:
        return None
    what = e.strerror or str(e)
    file = None if e.filename is None else os.fsdecode(e.filename)
    return InputError(what, file=file, fix=_OS_FIXES.get(e.errno))


class CommandParser(argparse.ArgumentParser):
    """argparse with the suite's policy for a usage error (an unknown flag, a missing
    argument): one `error:` line naming the command, exit 2, as for any bad input."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.set_defaults(command_prog=self.prog)  # the deepest verb's name wins

    def error(self, message: str):
        raise InputError(message, fix=f"see {self.prog} --help")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but a flag the verb does not know names the verb's --help, and a
        negative number after an option is its value (`--flops -1e21` is refused as negative,
        not misread as an unknown flag)."""
        ns, extra = self.parse_known_args(_negatives_joined(args), namespace)
        if extra:
            raise InputError(f"unrecognized arguments: {' '.join(extra)}",
                             fix=f"see {getattr(ns, 'command_prog', self.prog)} --help")
        return ns


_NUMBER = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


def _negatives_joined(argv: list[str] | None) -> list[str] | None:
    """`--opt -1e21` as `--opt=-1e21` (argparse reads only plain negative integers and decimals
    as values)."""
    if argv is None:
        return None
    out: list[str] = []
    for a in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and _NUMBER.match(a):
            out[-1] = f"{out[-1]}={a}"
        else:
            out.append(a)
    return out


def warn_deprecated(old: str, new: str) -> None:
    """The one line an old spelling prints on stderr (it still works)."""
    print(f"warning: {old} is deprecated; use {new}", file=sys.stderr)


class _Deprecated(argparse.Action):
    """A hidden old spelling of an option: one warning line, then the new option's own action."""

    def __init__(self, option_strings, dest, *, target: argparse.Action, **_: Any):
        self.target = target
        super().__init__(option_strings, dest, nargs=target.nargs, const=target.const,
                         type=target.type, choices=target.choices, default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS, metavar=target.metavar)

    def __call__(self, parser, namespace, values, option_string=None):
        warn_deprecated(option_string, self.target.option_strings[0])
        self.target(parser, namespace, values, option_string)


def deprecated(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Accept `old` as a hidden alias of the option `new` already on `parser` (same value, same
    destination), printing `warning: OLD is deprecated; use NEW` when it is used."""
    target = parser._option_string_actions[new]
    parser.add_argument(old, dest=target.dest, action=_Deprecated, target=target)


def _one_line_warning(message: Any, category: Any, *_: Any, **__: Any) -> str:
    return f"warning: {message}\n"


def cli_main(fn: Callable[[], int | None], *, program: str | None = None) -> int:
    """Run a command under the one policy: bad input (an InputError, or a file-system refusal
    naming a path) is one line on stderr and exit code 2; Ctrl-C is 130; a reader that closed
    the pipe (`| head`) is 141 with no traceback; each warning is one `warning:` line. With
    `program`, any other exception is a bug: its traceback, one line asking to report it, 1."""
    shown = warnings.formatwarning
    warnings.formatwarning = _one_line_warning  # no source line echoed under the message
    try:
        with warnings.catch_warnings():
            if not sys.warnoptions:
                warnings.simplefilter("default")
            code = int(fn() or 0)
            sys.stdout.flush()  # a closed pipe is found here, not at exit
            return code
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _drop_stdout()
        return 141  # 128 + SIGPIPE, what a shell tool killed by the closed pipe returns
    except OSError as e:
        err = os_input_error(e)
        if err is None:
            return _bug(program)
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except Exception:  # noqa: BLE001 (anything else is a bug: reported, not hidden)
        return _bug(program)
    finally:
        warnings.formatwarning = shown


def _bug(program: str | None) -> int:
    if program is None:
        raise  # noqa: PLE0704 (re-raises the exception being handled)
    traceback.print_exc()
    print(f"error: this is a bug in {program}, not in your input; please report it with the "
          "command and the traceback above", file=sys.stderr)
    return 1


def _drop_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's own flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test's capture)
        pass
