"""Pieces of `bench/api_bench.py`: API server processes, HTTP load, statistics and report.

The store clusters come from `storebench.cluster` (one launcher for both benchmarks);
importing `storebench` puts the repository root on `sys.path`, so `kubelite` imports even when
it is not installed.

    servers.py   `kubelite apiserver` processes over one store cluster (port 0, endpoints file)
    http.py      the requests every measurement shares: namespaces, pods, lists
    measure.py   in-process measurements: sequential latency, open-loop paced calls
    worker.py    a load-generator process: closed-loop pod creates, or many HTTP watchers
    pool.py      the parent side of those processes
    results.py   figures, medians and the printed table
"""

from __future__ import annotations

import storebench

REPO_ROOT = storebench.REPO_ROOT
BENCH_DIR = storebench.BENCH_DIR
