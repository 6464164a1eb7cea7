"""greenclient's benchmark; not part of the installed package.

Run it with ``python scripts/benchmark.py [--quick]`` (see ``--help``); it needs
the ``bench`` extra (``pip install -e '.[bench]'``).

Layout:

``api.py``        what a section is (:class:`~bench.api.Section`) and what it is given
``sections/``     one module per section; ``sections/__init__.py`` is the registry
``goals.py``      the one table of goals (checks, report and README come from it)
``runner.py``     the orchestrator: processes, timeouts, the run, the files written
``worker.py``     ``python -m bench.worker SECTION JOB ARGS``: one job, one process
``servers.py``    ``python -m bench.servers``: the server processes (no eventlet)
``common.py``     traffic, memory readings, result lines (no eventlet)
``stats.py``      medians, spreads and ratios computed run by run
``report.py``     the text table, the README summary, the plots

Nothing here imports eventlet or greenclient at module level: only a green
job's process does, when it runs (``import greenclient`` monkey-patches it).
"""
