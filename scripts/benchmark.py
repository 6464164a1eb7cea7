#!/usr/bin/env python3
"""Benchmark greenclient on this machine: ``python scripts/benchmark.py [--quick]``.

Needs the bench extra (``pip install -e '.[bench]'``). See ``--help``, and
``scripts/bench/`` for how it is built.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import NoReturn

# This file's directory holds the ``bench`` package.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PROG = "benchmark.py"
#: Modules of the bench extra the run needs (matplotlib only for plots).
NEEDED = ("pyperf", "orjson", "msgspec")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _version() -> str:
    from bench import runner

    return f"{PROG} (greenclient {runner.greenclient_version()})"


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the command line; exits with a one-line error on a bad option."""
    from bench.sections import SECTIONS

    parser = _Parser(
        prog=PROG,
        description=(
            "Benchmark greenclient: framing and decoding in memory (pyperf), one "
            "connection against plain loops, many connections against OS threads, "
            "fairness and memory under floods. Prints a table; writes results.json, "
            "benchmark.txt, summary.rst and PNG plots."
        ),
        epilog=(
            "Every variant runs in its own process against a server process on "
            "127.0.0.1; plain variants never import eventlet. The full mode (the "
            "default) takes about 12 minutes on 2 cores; --quick about 2."
        ),
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (CI's smoke run)")
    size.add_argument("--full", action="store_true", help="the sizes the goals name (default)")
    size.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, from: {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--out", default="bench-results", help="directory for the results (default: %(default)s)"
    )
    parser.add_argument(
        "--readme",
        metavar="FILE",
        help="also write the summary between the benchmark-summary markers of FILE",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines")
    parser.add_argument("--verbose", action="store_true", help="show the workers' stderr")
    parser.add_argument("--version", action="version", version=_version())
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if not chosen or unknown:
        parser.error(f"--sections: unknown {', '.join(unknown) or 'empty list'}")
    args.sections = [name for name in SECTIONS if name in chosen]
    if args.readme is not None and not Path(args.readme).is_file():
        parser.error(f"--readme: no file {args.readme}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark with ``argv`` (default: the command line); return the exit status."""
    args = parse(sys.argv[1:] if argv is None else argv)
    for name in NEEDED:
        try:
            importlib.import_module(name)
        except ImportError:
            sys.stderr.write(
                f"{PROG}: error: {name} is missing; install the bench extra: "
                "pip install -e '.[bench]'\n"
            )
            return 1
    from bench import runner

    options = runner.Options(
        mode="smoke" if args.smoke else "quick" if args.quick else "full",
        sections=args.sections,
        out=Path(args.out),
        plots=not args.no_plots,
        progress=not args.no_progress,
        verbose=args.verbose,
        readme=None if args.readme is None else Path(args.readme),
    )
    try:
        return runner.run(options)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
