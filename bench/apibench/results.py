"""Figures of the API server benchmark: what each measurement produced, and the printed report.

Pure data and formatting. `BackendFigures` holds everything measured on one store (a list per
figure, one entry per run); `report()` prints every run's raw line, then one table with a
column per store, the medians over the runs, and the target beside each figure it has one for.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

MB = 1024 * 1024
T = TypeVar("T")


class HasLine(Protocol):
    def line(self) -> str: ...


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[rank]


def merge_counts(counts: list[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for each in counts:
        for key, count in each.items():
            merged[key] = merged.get(key, 0) + count
    return merged


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    samples: int
    errors: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of_seconds(cls, seconds: list[float], errors: dict[str, int] | None = None) -> Latency:
        ms = [s * 1000 for s in seconds]
        return cls(percentile(ms, 0.50), percentile(ms, 0.99), len(ms), errors or {})

    def line(self) -> str:
        errors = f", errors {self.errors}" if self.errors else ""
        return f"p50 {self.p50_ms:7.2f} ms  p99 {self.p99_ms:7.2f} ms  ({self.samples}{errors})"


@dataclass(frozen=True)
class CreateRate:
    """One closed-loop create run: creates/s in the window, latency and the CPU spent."""

    ops_per_s: float
    latency: Latency
    client_cores: float  # all load-generator processes together
    busiest_client_cores: float  # near 1.0: the generator may be the limit
    apiserver_cores: float
    store_cores: float
    machine_busy_pct: float

    def line(self) -> str:
        return (
            f"{self.ops_per_s:8.1f}/s  {self.latency.line()}  CPU: API servers "
            f"{self.apiserver_cores:.2f}, store {self.store_cores:.2f}, clients "
            f"{self.client_cores:.2f} (busiest {self.busiest_client_cores:.2f}) cores; machine "
            f"{self.machine_busy_pct:.0f}% busy"
        )


@dataclass(frozen=True)
class Paced:
    """Open-loop creates (and as many GETs) at a fixed rate, latency from the scheduled time."""

    target_rate: float
    achieved_rate: float  # creates answered 201 per second of the schedule
    create: Latency
    get: Latency

    def line(self) -> str:
        return (
            f"{self.achieved_rate:.1f}/{self.target_rate:g} creates/s; create "
            f"{self.create.line()}; GET {self.get.line()}"
        )


@dataclass(frozen=True)
class Fanout:
    """Watch fan-out: N watchers on one server, a paced stream of creates."""

    watchers: int
    opened: int
    events: int  # creates acknowledged during the stream
    delivery: Latency  # acknowledgement -> arrival at a watcher, over every (watcher, event)
    max_ms: float
    complete_watchers: int  # watchers that received every event
    missing: int  # (watcher, event) pairs never received
    duplicates: int
    ended_early: dict[str, int]
    apiserver_cores: float
    client_cores: float

    @classmethod
    def fold(
        cls,
        watchers: int,
        opened: int,
        acks: dict[str, float],
        results: list[dict[str, Any]],
        apiserver_cores: float,
    ) -> Fanout:
        """`acks`: acknowledgement time by pod name; `results`: the watcher processes' (see
        `apibench.worker`), arrival times by pod name. An event may arrive before its writer
        sees the acknowledgement, so a delivery latency can be slightly negative."""
        seconds = [
            arrived - acks[name]
            for r in results
            for name, arrivals in r["received"].items()
            if name in acks
            for arrived in arrivals
        ]
        per_watcher = [count for r in results for count in r["per_watcher"]]
        return cls(
            watchers=watchers,
            opened=opened,
            events=len(acks),
            delivery=Latency.of_seconds(seconds),
            max_ms=max(seconds, default=0.0) * 1000,
            complete_watchers=sum(1 for count in per_watcher if count >= len(acks)),
            missing=watchers * len(acks) - len(seconds),
            duplicates=sum(r["duplicates"] for r in results),
            ended_early=merge_counts([r["ended_early"] for r in results]),
            apiserver_cores=apiserver_cores,
            client_cores=sum(r["cpu_s"] / r["wall_s"] for r in results if r["wall_s"] > 0),
        )

    @property
    def all_received(self) -> bool:
        return self.opened == self.watchers and self.complete_watchers == self.watchers

    def completeness(self) -> str:
        return f"{self.complete_watchers}/{self.watchers} got {self.events}"

    def line(self) -> str:
        ended = f", ended early {self.ended_early}" if self.ended_early else ""
        return (
            f"{self.opened}/{self.watchers} opened, {self.events} events; delivery "
            f"{self.delivery.line()} max {self.max_ms:.1f} ms; {self.completeness()}, missing "
            f"{self.missing}, duplicates {self.duplicates}{ended}; CPU: watched API server "
            f"{self.apiserver_cores:.2f}, watchers {self.client_cores:.2f} cores"
        )


@dataclass(frozen=True)
class Memory:
    pods: int
    apiserver_rss: int
    apiserver_rss_empty: int
    store_rss: list[int]
    store_rss_empty: list[int]

    def line(self) -> str:
        store = " / ".join(f"{b / MB:.1f}" for b in self.store_rss)
        store_empty = " / ".join(f"{b / MB:.1f}" for b in self.store_rss_empty)
        return (
            f"{self.pods} pods: API server RSS {self.apiserver_rss / MB:.1f} MB (at start "
            f"{self.apiserver_rss_empty / MB:.1f}); store members {store} MB (at start "
            f"{store_empty})"
        )


GET_LABELS = ("GET pod", "LIST 100 pods", "LIST 100 pods, resourceVersion=0")
CREATE_LABELS = ("1 API server", "2 API servers")


@dataclass
class BackendFigures:
    """Everything measured on one store; lists hold one entry per run."""

    name: str
    version: str = ""
    creates: dict[str, list[CreateRate]] = field(default_factory=dict)
    latency: dict[str, list[Latency]] = field(default_factory=dict)
    paced: list[Paced] = field(default_factory=list)
    fanout: dict[int, list[Fanout]] = field(default_factory=dict)
    memory: Memory | None = None

    def raw_lines(self) -> list[str]:
        lines = [f"{self.name} ({self.version})"]
        if self.memory is not None:
            lines.append(f"  memory: {self.memory.line()}")
        sections: list[tuple[str, Sequence[HasLine]]] = [
            *((f"creates, {k}", v) for k, v in self.creates.items()),
            *self.latency.items(),
            ("paced creates + GETs", self.paced),
            *((f"watch, {k} watchers", v) for k, v in self.fanout.items()),
        ]
        for title, runs in sections:
            lines.extend(f"  {title:<34} run {n}: {r.line()}" for n, r in enumerate(runs, 1))
        return lines


def median_of(runs: list[T], figure: Callable[[T], float]) -> float | None:
    return statistics.median(figure(r) for r in runs) if runs else None


class Table:
    """Rows of label | one cell per store | target | whether kubelite meets it."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.rows: list[list[str]] = []

    def add(
        self,
        label: str,
        values: list[float | None],
        digits: int = 1,
        target: str = "",
        meets: Callable[[float], bool] | None = None,
        meets_for: str = "kubelite",
    ) -> None:
        cells = ["-" if v is None else f"{v:,.{digits}f}" for v in values]
        verdict = ""
        if meets is not None and meets_for in self.names:
            value = values[self.names.index(meets_for)]
            verdict = "-" if value is None else ("met" if meets(value) else "MISSED")
        self.rows.append([label, *cells, target, verdict])

    def add_text(self, label: str, cells: list[str], target: str = "", verdict: str = "") -> None:
        self.rows.append([label, *cells, target, verdict])

    def render(self) -> str:
        head = ["", *self.names, "target", "kubelite vs target"]
        widths = [max(len(row[i]) for row in [head, *self.rows]) for i in range(len(head))]
        lines = []
        for row in [head, *self.rows]:
            cells = [row[0].ljust(widths[0])]
            cells += [cell.rjust(widths[i] + 2) for i, cell in enumerate(row[1:], 1)]
            lines.append("".join(cells).rstrip())
        return "\n".join(lines)


def _runs_suffix(counts: list[int]) -> str:
    runs = max(counts, default=0)
    return f" (median of {runs})" if runs > 1 else ""


def _create_rows(table: Table, figures: list[BackendFigures]) -> None:
    for label in CREATE_LABELS:
        runs = [f.creates.get(label, []) for f in figures]
        two = label.startswith("2")
        table.add(
            f"pod creates/s, {label}{_runs_suffix([len(r) for r in runs])}",
            [median_of(r, lambda c: c.ops_per_s) for r in runs],
            target=">= 1,000" if two else "",
            meets=(lambda v: v >= 1000) if two else None,
        )
        table.add("  p50 ms", [median_of(r, lambda c: c.latency.p50_ms) for r in runs], 2)
        table.add("  p99 ms", [median_of(r, lambda c: c.latency.p99_ms) for r in runs], 2)
        table.add(
            "  API server CPU, cores", [median_of(r, lambda c: c.apiserver_cores) for r in runs], 2
        )
        table.add("  store CPU, cores", [median_of(r, lambda c: c.store_cores) for r in runs], 2)
        table.add(
            "  busiest client process, cores",
            [median_of(r, lambda c: c.busiest_client_cores) for r in runs],
            2,
        )


def _latency_rows(table: Table, figures: list[BackendFigures]) -> None:
    for label in GET_LABELS:
        runs = [f.latency.get(label, []) for f in figures]
        table.add(f"{label}, p50 ms", [median_of(r, lambda x: x.p50_ms) for r in runs], 2)
        table.add(f"{label}, p99 ms", [median_of(r, lambda x: x.p99_ms) for r in runs], 2)
    paced = [f.paced for f in figures]
    rate = max((p.target_rate for runs in paced for p in runs), default=0)
    table.add(
        f"paced {rate:g} creates/s: achieved/s",
        [median_of(r, lambda p: p.achieved_rate) for r in paced],
    )
    creates = [[p.create for p in runs] for runs in paced]
    gets = [[p.get for p in runs] for runs in paced]
    for name, latencies in (("create", creates), ("GET", gets)):
        table.add(f"  {name} p50 ms", [median_of(r, lambda x: x.p50_ms) for r in latencies], 2)
        table.add(
            f"  {name} p99 ms",
            [median_of(r, lambda x: x.p99_ms) for r in latencies],
            2,
            target="< 100",
            meets=lambda v: v < 100,
        )


def _fanout_rows(table: Table, figures: list[BackendFigures]) -> None:
    counts = sorted({n for f in figures for n in f.fanout})
    for n in counts:
        runs = [f.fanout.get(n, []) for f in figures]
        big = n >= 1000
        table.add(
            f"watch, {n} watchers: delivery p50 ms",
            [median_of(r, lambda x: x.delivery.p50_ms) for r in runs],
            2,
        )
        table.add(
            "  delivery p99 ms",
            [median_of(r, lambda x: x.delivery.p99_ms) for r in runs],
            2,
            target="< 200" if big else "",
            meets=(lambda v: v < 200) if big else None,
        )
        table.add(
            "  watched API server CPU, cores",
            [median_of(r, lambda x: x.apiserver_cores) for r in runs],
            2,
        )
        complete = [f"{sum(x.all_received for x in r)}/{len(r)} runs" if r else "-" for r in runs]
        ours = runs[0] if figures and figures[0].name == "kubelite" else []
        verdict = ("met" if all(x.all_received for x in ours) else "MISSED") if big and ours else ""
        table.add_text("  every watcher got every event", complete, "all" if big else "", verdict)


def _memory_rows(table: Table, figures: list[BackendFigures]) -> None:
    memories = [f.memory for f in figures]
    loaded = [m for m in memories if m is not None]
    if not loaded:
        return

    def each(figure: Callable[[Memory], float]) -> list[float | None]:
        return [figure(m) if m is not None else None for m in memories]

    table.add(
        f"API server RSS with {loaded[0].pods:,} pods, MB", each(lambda m: m.apiserver_rss / MB)
    )
    table.add("  API server RSS at start, MB", each(lambda m: m.apiserver_rss_empty / MB))
    for i in range(max(len(m.store_rss) for m in loaded)):
        member = [m.store_rss[i] / MB if m is not None else None for m in memories]
        table.add(f"  store member {i + 1} RSS, MB", member)


def report(figures: list[BackendFigures]) -> str:
    table = Table([f.name for f in figures])
    _create_rows(table, figures)
    _latency_rows(table, figures)
    _fanout_rows(table, figures)
    _memory_rows(table, figures)
    raw = [line for f in figures for line in f.raw_lines()]
    return "\n".join(["raw numbers, per run:", *raw, "", table.render()])
