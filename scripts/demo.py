#!/usr/bin/env python3
"""Run greenclient-demo from a checkout: ``python3 scripts/demo.py [--help]``."""

import os
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

# A command, like greenclient-demo: eventlet's notice to developers is not for its users.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import greenclient
from greenclient.demo import main

if __name__ == "__main__":
    _ = greenclient
    sys.exit(main())
