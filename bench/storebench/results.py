"""Figures of one benchmark: what each measurement produced, and the printed report.

Pure data and formatting: `Throughput.from_workers` folds the per-worker results of one run,
`BackendFigures` holds everything measured on one store, and `report()` renders the raw
per-run lines and the side-by-side table (kubelite | etcd | ratio kubelite/etcd).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MB = 1024 * 1024
TARGET_OVERHEAD_BYTES = 80 * MB


def percentile(sorted_values: list[int], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return float(sorted_values[rank])


def merge_errors(results: list[dict[str, Any]]) -> dict[str, int]:
    """Error counts by gRPC code over every worker's result."""
    errors: dict[str, int] = {}
    for r in results:
        for code, count in r["errors"].items():
            errors[code] = errors.get(code, 0) + count
    return errors


@dataclass(frozen=True)
class Throughput:
    """One throughput run: operations per second, latency, errors and CPU spent."""

    ops_per_s: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    error_samples: dict[str, str]  # the first message seen per error code
    client_cpu_cores: float  # all load generator processes together
    busiest_client_cores: float  # near 1.0 would mean the generator limits the figure
    server_cpu_cores: float  # the three members together
    machine_busy_pct: float  # every CPU of the machine, whoever used it

    @classmethod
    def from_workers(
        cls,
        results: list[dict[str, Any]],
        duration_s: float,
        server_cpu_cores: float,
        machine_busy_pct: float,
    ) -> Throughput:
        latencies = sorted(lat for r in results for lat in r["latencies_us"])
        samples: dict[str, str] = {}
        for r in results:
            for code, message in r["error_samples"].items():
                samples.setdefault(code, message)
        client_cores = [r["cpu_s"] / r["wall_s"] for r in results if r["wall_s"] > 0]
        return cls(
            ops_per_s=sum(r["ops"] for r in results) / duration_s,
            p50_ms=percentile(latencies, 0.50) / 1000,
            p99_ms=percentile(latencies, 0.99) / 1000,
            errors=merge_errors(results),
            error_samples=samples,
            client_cpu_cores=sum(client_cores),
            busiest_client_cores=max(client_cores, default=0.0),
            server_cpu_cores=server_cpu_cores,
            machine_busy_pct=machine_busy_pct,
        )

    def line(self) -> str:
        errors = ", ".join(
            f"{code}={count} ({self.error_samples.get(code, '')!r})"
            for code, count in sorted(self.errors.items())
        )
        return (
            f"{self.ops_per_s:9.1f}/s  p50 {self.p50_ms:7.2f} ms  p99 {self.p99_ms:7.2f} ms  "
            f"CPU: clients {self.client_cpu_cores:.2f} (busiest process "
            f"{self.busiest_client_cores:.2f}), members {self.server_cpu_cores:.2f} cores, "
            f"machine {self.machine_busy_pct:.0f}% busy  errors {errors or 'none'}"
        )


@dataclass(frozen=True)
class Memory:
    keys: int
    live_bytes: int
    rss_bytes: list[int]  # per member, after loading
    baseline_rss_bytes: list[int]  # per member, empty cluster

    @property
    def target_bytes(self) -> int:
        return 2 * self.live_bytes + TARGET_OVERHEAD_BYTES

    @property
    def max_rss(self) -> int:
        return max(self.rss_bytes)


CHECK_PERF_FIGURES = (r"(\d+ writes/s)", r"Slowest request took\D*([\d.]+s)", r"Stddev\D*([\d.]+s)")


@dataclass(frozen=True)
class CheckPerf:
    """The summary of one `etcdctl check perf` (its thresholds: throughput > 90% of the load's
    target, slowest request <= 0.5 s, stddev <= 0.1 s, no errors)."""

    verdict: str  # PASS, FAIL or ERROR
    throughput: str = "-"  # "930 writes/s"
    slowest: str = "-"  # "0.468174s"
    stddev: str = "-"
    note: str = ""  # request errors, or why there is no verdict

    @classmethod
    def parse(cls, output: str) -> CheckPerf:
        """Read etcdctl's summary lines, e.g. "FAIL: Throughput too low: 6491 writes/s",
        "Slowest request took too long: 0.786915s", "PASS: Stddev is 0.023631s", "FAIL"."""
        lines = [line.strip() for line in output.replace("\r", "\n").splitlines()]
        verdicts = [line for line in lines if line in ("PASS", "FAIL")]
        errors = re.findall(r"FAIL: ERROR\((.*)\) -> (\d+)", output)
        if not verdicts:
            return cls("ERROR", note=next((ln for ln in reversed(lines) if ln), "no output")[:80])
        found = [
            re.search(pattern, output)
            for pattern in (
                r"(\d+ writes/s)",
                r"Slowest request took\D*([\d.]+s)",
                r"Stddev\D*([\d.]+s)",
            )
        ]
        throughput, slowest, stddev = (m.group(1) if m else "-" for m in found)
        note = "; ".join(f"{count} x {error}" for error, count in errors)
        return cls(verdicts[-1], throughput, slowest, stddev, note)

    def line(self) -> str:
        text = f"{self.verdict}  {self.throughput}, slowest {self.slowest}, stddev {self.stddev}"
        return f"{text}  {self.note}" if self.note else text


@dataclass
class BackendFigures:
    """Everything measured on one store."""

    name: str
    version: str = ""
    throughput: dict[str, list[Throughput]] = field(default_factory=dict)
    gaps_s: list[float | None] = field(default_factory=list)
    gap_runs: list[str] = field(default_factory=list)
    memory: Memory | None = None
    check_perf: dict[str, CheckPerf] = field(default_factory=dict)

    def median(self, label: str, attr: str) -> float | None:
        runs = self.throughput.get(label)
        return statistics.median(getattr(t, attr) for t in runs) if runs else None

    def measured_gaps(self) -> list[float]:
        return sorted(g for g in self.gaps_s if g is not None)


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or theirs == 0:
        return "-"
    return f"{ours / theirs:.2f}"


class Table:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.rows: list[tuple[str, list[str], str]] = []

    def add(
        self, label: str, values: list[float | None], digits: int = 1, ratio: bool = True
    ) -> None:
        shown = _ratio(values[0], values[1]) if ratio and len(values) == 2 else ""
        self.rows.append((label, [_num(v, digits) for v in values], shown))

    def add_text(self, label: str, cells: list[str]) -> None:
        self.rows.append((label, cells, ""))

    def render(self) -> str:
        width = max(len(label) for label, _, _ in self.rows) + 2
        cells = [c for _, row, _ in self.rows for c in row] + self.names
        cell_width = max(12, *(len(c) for c in cells)) + 2
        ratio_head = "kubelite/etcd" if len(self.names) == 2 else ""
        lines = [
            "".ljust(width)
            + "".join(n.rjust(cell_width) for n in self.names)
            + ratio_head.rjust(15)
        ]
        for label, row, ratio in self.rows:
            lines.append(
                label.ljust(width) + "".join(c.rjust(cell_width) for c in row) + ratio.rjust(15)
            )
        return "\n".join(lines)


def raw_lines(figures: BackendFigures) -> list[str]:
    """Every run's own numbers, before any median is taken."""
    lines = [f"{figures.name} ({figures.version})"]
    for label, runs in figures.throughput.items():
        for n, run in enumerate(runs, start=1):
            lines.append(f"  {label:<34} run {n}: {run.line()}")
    lines.extend(f"  {line}" for line in figures.gap_runs)
    if (memory := figures.memory) is not None:
        rss = " / ".join(f"{b / MB:.1f}" for b in memory.rss_bytes)
        base = " / ".join(f"{b / MB:.1f}" for b in memory.baseline_rss_bytes)
        lines.append(
            f"  memory: {memory.keys} keys, live data {memory.live_bytes / MB:.1f} MB; RSS per "
            f"member {rss} MB (empty cluster {base} MB)"
        )
    for load, result in figures.check_perf.items():
        lines.append(f"  etcdctl check perf --load={load}: {result.line()}")
    return lines


DETAIL_ROWS = [  # under each throughput figure: (row, Throughput attribute, decimals, ratio?)
    ("  p50 latency, ms", "p50_ms", 2, True),
    ("  p99 latency, ms", "p99_ms", 2, True),
    ("  client CPU, cores", "client_cpu_cores", 2, False),
    ("  server CPU, cores", "server_cpu_cores", 2, True),
    ("  machine CPU busy, %", "machine_busy_pct", 0, False),
]


def _throughput_rows(table: Table, figures: list[BackendFigures], labels: list[str]) -> None:
    for label in labels:
        runs = max(len(f.throughput.get(label, [])) for f in figures)
        suffix = f" (median of {runs})" if runs > 1 else ""
        table.add(label + suffix, [f.median(label, "ops_per_s") for f in figures])
        for row, attr, digits, ratio in DETAIL_ROWS:
            table.add(row, [f.median(label, attr) for f in figures], digits, ratio)


def _gap_rows(table: Table, figures: list[BackendFigures]) -> None:
    gaps = [f.measured_gaps() for f in figures]
    table.add(
        "write gap after kill -9 leader, s (median)",
        [statistics.median(g) if g else None for g in gaps],
        2,
    )
    table.add("  min", [g[0] if g else None for g in gaps], 2)
    table.add("  max", [g[-1] if g else None for g in gaps], 2)
    table.add_text(
        "  recovered / kills",
        [f"{len(g)} / {len(f.gaps_s)}" for g, f in zip(gaps, figures, strict=True)],
    )


def _memory_rows(table: Table, figures: list[BackendFigures]) -> None:
    memories = [f.memory for f in figures]
    loaded = [m for m in memories if m is not None]
    if not loaded:
        return

    def each(figure: Callable[[Memory], float]) -> list[float | None]:
        return [figure(m) if m is not None else None for m in memories]

    table.add(
        f"RSS per member after {loaded[0].keys} keys, MB (max)", each(lambda m: m.max_rss / MB)
    )
    table.add(
        "  RSS of the empty cluster, MB (max)", each(lambda m: max(m.baseline_rss_bytes) / MB)
    )
    table.add("  live data, MB", each(lambda m: m.live_bytes / MB), ratio=False)
    table.add("  target 2 x live + 80 MB", each(lambda m: m.target_bytes / MB), ratio=False)
    table.add("  max RSS / target", each(lambda m: m.max_rss / m.target_bytes), 2)


def report(figures: list[BackendFigures], labels: list[str]) -> str:
    table = Table([f.name for f in figures])
    _throughput_rows(table, figures, labels)
    _gap_rows(table, figures)
    _memory_rows(table, figures)
    for load in sorted({load for f in figures for load in f.check_perf}, key="sml".find):
        cells = [f.check_perf.get(load, CheckPerf("-")) for f in figures]
        table.add_text(f"etcdctl check perf --load={load}", [c.verdict for c in cells])
        table.add_text("  throughput", [c.throughput for c in cells])
        table.add_text("  slowest request", [c.slowest for c in cells])
        table.add_text("  stddev", [c.stddev for c in cells])
    raw = [line for f in figures for line in raw_lines(f)]
    return "\n".join(["raw numbers, per run:", *raw, "", table.render()])


LABEL_WIDTH = 56


def ceiling_report(runs: list[Throughput], clients: int) -> str:
    """What the no-op gRPC servers did under the same write load (see `storebench.noop`)."""
    calls = statistics.median(r.ops_per_s for r in runs)
    cores = statistics.median(r.server_cpu_cores for r in runs)
    per_call_ms = 1000 * cores / calls if calls else float("nan")
    each = " / ".join(f"{r.ops_per_s:,.0f}" for r in runs)
    return "\n".join(
        [
            f"ceiling: no-op Python gRPC servers (storebench.noop), {clients} clients writing",
            f"  calls/s, median of {len(runs)} (runs {each})".ljust(LABEL_WIDTH) + f"{calls:,.1f}",
            "  server CPU, cores".ljust(LABEL_WIDTH) + f"{cores:.2f}",
            "  server CPU per call, ms".ljust(LABEL_WIDTH) + f"{per_call_ms:.3f}",
            "  a store whose front end is grpc.aio in Python cannot exceed these calls/s here",
        ]
    )
