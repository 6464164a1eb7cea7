#!/usr/bin/env python3
"""Run greenclient-demo from a checkout: ``python3 scripts/demo.py [--help]``."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import greenclient
from greenclient.demo import main

if __name__ == "__main__":
    _ = greenclient
    sys.exit(main())
