"""``python -m greenclient``: run the demo, as ``greenclient-demo`` does.

A user who runs the package expects to see it work: the demo connects to
localhost:8000 (or starts an embedded server), prints what arrives and sends
what is typed. ``python -m greenclient --help`` lists its options.
"""

import sys

from .demo import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m greenclient"))
