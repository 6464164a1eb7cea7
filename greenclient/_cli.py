"""What greenclient's own commands share: option types, ``--version``, a quiet exit.

The commands (``greenclient-demo``, ``python -m greenclient``,
``python -m greenclient.server``) promise their users three things: a bad option is
one line on standard error and exit status 2, never a traceback; a closed output
(``greenclient-demo | head -3``) ends the command quietly; eventlet's deprecation
notice is not printed (see :func:`is_own_command`, used by ``greenclient/__init__``
before it imports eventlet). This module imports neither eventlet nor the rest of
greenclient at module level, so that ``__init__`` can use it first.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn

__all__ = [
    "COMMANDS",
    "ArgumentParser",
    "add_version",
    "count",
    "delimiter",
    "is_own_command",
    "port",
    "positive_float",
    "quiet_broken_pipe",
]

#: The console scripts and ``-m`` modules that are greenclient's own commands.
COMMANDS: Final = frozenset({"greenclient-demo"})
MODULES: Final = frozenset({"greenclient", "greenclient.demo", "greenclient.server"})

#: Exit status of a command whose output was closed by its reader: what a shell
#: reports for a process ended by SIGPIPE (128 + 13), as ``yes | head`` ends.
BROKEN_PIPE_STATUS: Final = 141

#: Interpreter options that take the next argument as their value.
_OPTIONS_WITH_VALUE: Final = frozenset({"-W", "-X", "--check-hash-based-pycs"})


def is_own_command(orig_argv: Sequence[str] | None = None) -> bool:
    """True when this process runs one of greenclient's commands.

    A console script is recognised by its name (``sys.argv[0]``), a module by the
    interpreter's own command line (``sys.orig_argv``: ``python -m greenclient...``),
    since while the package imports, ``sys.argv[0]`` is still ``"-m"``.
    """
    if os.path.basename(sys.argv[0]) in COMMANDS:
        return True
    args = list(sys.orig_argv if orig_argv is None else orig_argv)[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-m":
            return i + 1 < len(args) and args[i + 1] in MODULES
        if arg.startswith("-m") and not arg.startswith("--"):
            return arg[2:] in MODULES
        if arg in _OPTIONS_WITH_VALUE:
            i += 2
            continue
        if arg in {"-c", "-"} or not arg.startswith("-"):
            return False
        i += 1
    return False


def _checked(
    name: str, convert: Callable[[str], Any], check: Callable[[Any], bool], expected: str
) -> Callable[[str], Any]:
    """An argparse type: ``convert`` then ``check``; a failure names what is expected."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {expected}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {expected}")
        return value

    parse.__name__ = name
    return parse


port = _checked("port", int, lambda n: 1 <= n <= 65535, "a port number (1 to 65535)")
port_or_zero = _checked(
    "port", int, lambda n: 0 <= n <= 65535, "a port number (1 to 65535, or 0 for a free one)"
)
positive_float = _checked(
    "number", float, lambda x: x > 0 and x != float("inf"), "a number greater than 0"
)
count = _checked("count", int, lambda n: n >= 1, "a whole number of at least 1")


def delimiter(text: str) -> str:
    """An argparse type: a delimiter that greenclient can frame every JSON message with.

    It must not be empty, and the JSON codec must be able to keep it out of every
    message (:func:`greenclient.codec.frames_every_message`): not ``}``, ``,``,
    digits, ``ee`` or a backslash, which JSON itself writes where no escape hides
    them.
    """
    # Imported here: the package imports this module before it patches anything.
    from .codec import frames_every_message  # noqa: PLC0415

    if not text:
        raise argparse.ArgumentTypeError("the delimiter must not be empty")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not valid UTF-8 text (the terminal's encoding?)"
        ) from None
    if not frames_every_message(text.encode("utf-8")):
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot delimit JSON messages: JSON writes its first character where "
            "no escape can hide it; choose another, such as ~ (the default), | or §"
        )
    return text


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, reporting a bad command line in one line on standard error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Version(argparse.Action):
    """``--version``: print the program's name and greenclient's version, exit 0."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from . import __version__  # noqa: PLC0415  (the package imports this module)

        print(f"{parser.prog} (greenclient {__version__})")
        parser.exit()


def add_version(parser: argparse.ArgumentParser) -> None:
    """Add ``--version`` to ``parser``."""
    parser.add_argument("--version", action=_Version, help="print the version and exit")


def prepare_output() -> bool:
    """Make standard output print any text; False when there is none (it was closed).

    Characters the terminal's encoding cannot show (a C locale) are written as
    backslash escapes instead of raising ``UnicodeEncodeError``.
    """
    out = sys.stdout
    if out is None:
        return False
    if isinstance(out, io.TextIOWrapper):
        out.reconfigure(errors="backslashreplace")
    return True


def quiet_broken_pipe() -> int:
    """End quietly after the reader of standard output went away; returns the exit status.

    Standard output is pointed at ``/dev/null`` so that the interpreter's final flush
    does not report the same broken pipe again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return BROKEN_PIPE_STATUS
