"""Pieces of `bench/store_bench.py`: cluster launcher, load generator, statistics and report.

Importing this package puts the repository root on `sys.path`, so `kubelite.pb` (the generated
etcd v3 stubs) imports even when kubelite is not installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO_ROOT / "bench"

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
