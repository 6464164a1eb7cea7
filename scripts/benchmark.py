#!/usr/bin/env python3
"""Run greenclient-bench from a checkout: ``python3 scripts/benchmark.py [--quick] [--help]``.

The benchmark itself runs in fresh interpreters (see :mod:`greenclient.bench`):
this process only starts it and waits.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from greenclient import bench


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark with ``argv`` (default: the command line); return its status."""
    return bench.main(argv)


if __name__ == "__main__":
    sys.exit(main())
