"""Store benchmark: our 3-member `kubelite store` beside a 3-member etcd 3.4, same machine.

    python bench/store_bench.py --quick      # smoke check, under 2 minutes
    python bench/store_bench.py --runs 3     # full run, throughput figures are medians of 3

The two clusters never run together: the one not being measured is paused (SIGSTOP), and
their throughput runs alternate (kubelite run 1, etcd run 1, kubelite run 2, ...) because the
shared machine's speed drifts over minutes. Against each the same load generator (a few
`storebench.worker` processes, each an asyncio grpc.aio client, clients spread over all three
endpoints) measures, in this order:

1. resident memory of every member, empty and after loading N keys (256 B key, 1 KiB value);
2. writes/s at 1, 50 and 500 clients and linearizable reads/s at 50 and 500 clients, with
   p50/p99 latency and the CPU spent by the clients and by the members (repeated --runs times);
3. the write gap after kill -9 of the leader under a 50-client write load: from the kill to
   the first write that was sent after the kill and succeeded; the member is restarted and
   the kill repeated;
4. `etcdctl check perf --load=m` and `--load=l` (60 s each; --no-check-perf skips them).

Then (--no-ceiling skips it) the same 500-client write load runs against three
`storebench.noop` processes, gRPC servers that answer Put at once: the most calls/s any store
with a Python gRPC front end could give on this machine, printed below the table.

It prints figures and asserts nothing (DESIGN.md §7). Progress goes to stderr, the report to
stdout: the machine, the raw per-run numbers, then one table kubelite | etcd | kubelite/etcd.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psutil
from storebench.cluster import (
    BenchError,
    Cluster,
    EtcdBackend,
    KubeliteBackend,
    NoopBackend,
    child_env,
    poll,
    put,
    status,
)
from storebench.pool import WorkerPool
from storebench.results import (
    BackendFigures,
    CheckPerf,
    Memory,
    Throughput,
    ceiling_report,
    merge_errors,
    report,
)
from storebench.worker import LoadSpec

KEY_SIZE = 256
VALUE_SIZE = 1024
WRITE_CLIENTS = (1, 50, 500)
READ_CLIENTS = (50, 500)
GAP_CLIENTS = 50
LOAD_CLIENTS = 50
GAP_TIMEOUT_S = 30.0
GAP_OP_TIMEOUT_S = 2.0
GAP_PROBE_INTERVAL_S = 0.03  # per client process: resolution of the gap measurement
LOAD_TIMEOUT_S = 600.0
CONVERGE_TIMEOUT_S = 60.0
CHECK_PERF_TIMEOUT_S = 240.0
MAX_OPS_PER_SECOND = 100_000  # bound on any worker's operation count: duration x this
BUSY_LOAD_AVERAGE = 0.5
PROBE_ITERATIONS = 3_000_000
_STARTED = time.monotonic()


@dataclass(frozen=True)
class Settings:
    quick: bool
    runs: int
    check_perf: bool
    ceiling: bool
    procs: int
    warmup_s: float
    duration_s: float
    mem_keys: int
    key_space: int
    gap_repeats: int
    gap_steady_s: float
    only: list[str]
    etcd: str
    etcdctl: str
    workdir: Path | None
    keep: bool


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="brief measurements, a smoke check in < 2 min"
    )
    p.add_argument(
        "--runs", type=int, default=1, help="repeat the throughput measurements; medians"
    )
    p.add_argument(
        "--check-perf",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run etcdctl check perf m and l (default: on, off with --quick)",
    )
    p.add_argument(
        "--ceiling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure a no-op Python gRPC server under the 500-client write load (default: on)",
    )
    p.add_argument("--procs", type=int, default=3, help="load generator processes (default 3)")
    p.add_argument(
        "--duration", type=float, help="measured seconds per throughput run (10; quick 2)"
    )
    p.add_argument("--warmup", type=float, help="unmeasured seconds before each run (2; quick 0.5)")
    p.add_argument(
        "--mem-keys", type=int, help="keys loaded for the memory figure (20000; quick 2000)"
    )
    p.add_argument("--key-space", type=int, default=10_000, help="distinct keys the writes go to")
    p.add_argument("--gap-repeats", type=int, help="leader kills (5; quick 2)")
    p.add_argument("--only", choices=["kubelite", "etcd"], action="append", help="one store only")
    p.add_argument("--etcd", default="/usr/bin/etcd", help="etcd 3.4 server binary")
    p.add_argument("--etcdctl", default="/usr/bin/etcdctl", help="etcdctl binary")
    p.add_argument("--workdir", type=Path, help="where data dirs and logs go (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep data dirs and logs afterwards")
    a = p.parse_args(argv)
    quick = a.quick
    return Settings(
        quick=quick,
        runs=max(1, a.runs),
        check_perf=a.check_perf if a.check_perf is not None else not quick,
        ceiling=a.ceiling,
        procs=max(1, a.procs),
        warmup_s=a.warmup if a.warmup is not None else (0.5 if quick else 2.0),
        duration_s=a.duration or (2.0 if quick else 10.0),
        mem_keys=a.mem_keys or (2_000 if quick else 20_000),
        key_space=a.key_space,
        gap_repeats=a.gap_repeats or (2 if quick else 5),
        gap_steady_s=1.0 if quick else 2.0,
        only=a.only or ["kubelite", "etcd"],
        etcd=a.etcd,
        etcdctl=a.etcdctl,
        workdir=a.workdir,
        keep=a.keep,
    )


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# --- the machine ----------------------------------------------------------------------------


def _filesystem(path: Path) -> str:
    best = None
    for part in psutil.disk_partitions(all=True):
        if str(path).startswith(part.mountpoint) and (
            best is None or len(part.mountpoint) > len(best.mountpoint)
        ):
            best = part
    return best.fstype if best else "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def machine_header(settings: Settings, base_dir: Path) -> list[str]:
    load = os.getloadavg()
    lines = [
        f"store_bench on {platform.node()}: {os.cpu_count()} CPUs ({_cpu_model()}), load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start; data dirs on "
        f"{_filesystem(base_dir)} ({base_dir}); Python {platform.python_version()}",
        f"settings: {'--quick, ' if settings.quick else ''}runs {settings.runs}, "
        f"{settings.duration_s:g} s measured after {settings.warmup_s:g} s warm-up per run, "
        f"{settings.procs} client processes, {KEY_SIZE} B keys, {VALUE_SIZE} B values, "
        f"writes over {settings.key_space} keys, reads over the {settings.mem_keys} loaded keys, "
        f"{settings.gap_repeats} leader kills",
    ]
    if load[0] > BUSY_LOAD_AVERAGE:
        lines.append(
            f"WARNING: load average {load[0]:.2f} > {BUSY_LOAD_AVERAGE} at start: other work on "
            "this machine skews these figures"
        )
    return lines


def cpu_probe_s(iterations: int = PROBE_ITERATIONS) -> float:
    """CPU seconds one fixed Python loop takes: shared machines change speed from minute to
    minute, and figures taken minutes apart compare only at similar probe times."""
    started = time.process_time()
    total = 0
    for i in range(iterations):
        total += i
    return time.process_time() - started


# --- member processes -----------------------------------------------------------------------


def _member_processes(cluster: Cluster, index: int) -> list[psutil.Process]:
    proc = psutil.Process(cluster.members[index].pid)
    return [proc, *proc.children(recursive=True)]


def rss_per_member(cluster: Cluster) -> list[int]:
    return [
        sum(p.memory_info().rss for p in _member_processes(cluster, i))
        for i in range(len(cluster.members))
    ]


def server_cpu_seconds(cluster: Cluster) -> float:
    total = 0.0
    for i, member in enumerate(cluster.members):
        for proc in _member_processes(cluster, i) if member.is_running() else []:
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def wait_converged(cluster: Cluster) -> None:
    """Until every member reports the same revision (followers have applied the load)."""

    def same_revision() -> bool:
        revisions = {status(ep).header.revision for ep in cluster.endpoints}
        return len(revisions) == 1

    poll(same_revision, CONVERGE_TIMEOUT_S, f"{cluster.name} members at the same revision")


# --- measurements ---------------------------------------------------------------------------


def load_spec(
    cluster: Cluster,
    op: str,
    prefix: str,
    key_count: int,
    warmup_s: float,
    duration_s: float,
    **extra: Any,
) -> Callable[[int, int], LoadSpec]:
    endpoints = cluster.endpoints

    def spec_for(offset: int, count: int) -> LoadSpec:
        return LoadSpec(
            op=op,
            endpoints=endpoints,
            clients=count,
            client_offset=offset,
            warmup_s=warmup_s,
            duration_s=duration_s,
            max_ops=int((warmup_s + duration_s) * MAX_OPS_PER_SECOND),
            key_prefix=prefix,
            key_first=0,
            key_count=key_count,
            key_size=KEY_SIZE,
            value_size=VALUE_SIZE,
            **extra,
        )

    return spec_for


def measure_memory(cluster: Cluster, pool: WorkerPool, settings: Settings) -> Memory:
    baseline = rss_per_member(cluster)
    n, endpoints = settings.mem_keys, cluster.endpoints

    def spec_for(offset: int, count: int) -> LoadSpec:
        first, last = n * offset // LOAD_CLIENTS, n * (offset + count) // LOAD_CLIENTS
        return LoadSpec(
            op="put",
            endpoints=endpoints,
            clients=count,
            client_offset=offset,
            warmup_s=0,
            duration_s=LOAD_TIMEOUT_S,
            max_ops=3 * (last - first) + 100,
            key_prefix="/bench/m/",
            key_first=first,
            key_count=last - first,
            key_size=KEY_SIZE,
            value_size=VALUE_SIZE,
            sequential=True,
        )

    started = time.monotonic()
    results = pool.run(spec_for, LOAD_CLIENTS)
    written = sum(r["total_ok"] for r in results)
    progress(f"  loaded {written} keys in {time.monotonic() - started:.1f} s")
    wait_converged(cluster)
    return Memory(
        keys=written,
        live_bytes=written * (KEY_SIZE + VALUE_SIZE),
        rss_bytes=rss_per_member(cluster),
        baseline_rss_bytes=baseline,
    )


def measure_throughput(
    cluster: Cluster, pool: WorkerPool, settings: Settings, op: str, clients: int
) -> Throughput:
    """Writes go to random keys of their own key space; reads to the keys loaded for memory."""
    prefix, keys = (
        ("/bench/w/", settings.key_space) if op == "put" else ("/bench/m/", settings.mem_keys)
    )
    spec_for = load_spec(cluster, op, prefix, keys, settings.warmup_s, settings.duration_s)
    cpu: list[float] = []

    def sample_cpu(_: WorkerPool) -> None:
        time.sleep(settings.warmup_s)  # a benchmark paces itself by the clock
        psutil.cpu_percent()  # starts the machine-wide measurement
        cpu.append(server_cpu_seconds(cluster))
        time.sleep(settings.duration_s)
        cpu.append(server_cpu_seconds(cluster))
        cpu.append(psutil.cpu_percent())

    results = pool.run(spec_for, clients, during=sample_cpu)
    server_cores = (cpu[1] - cpu[0]) / settings.duration_s
    return Throughput.from_workers(results, settings.duration_s, server_cores, cpu[2])


def _write_anywhere(endpoints: list[str]) -> bool:
    for endpoint in endpoints:
        try:
            put(endpoint, b"/__bench__/probe")
            return True
        except grpc.RpcError:
            continue
    return False


def measure_gap(cluster: Cluster, pool: WorkerPool, settings: Settings) -> tuple[float | None, str]:
    """One kill -9 of the leader under load; the gap in seconds (None: never recovered)."""
    leader = cluster.leader()
    endpoints = cluster.endpoints
    survivors = [ep for i, ep in enumerate(endpoints) if i != leader]
    spec_for = load_spec(
        cluster,
        "put",
        "/bench/g/",
        settings.key_space,
        0.0,
        settings.gap_steady_s + GAP_TIMEOUT_S + 5,
        op_timeout_s=GAP_OP_TIMEOUT_S,
        probe_interval_s=GAP_PROBE_INTERVAL_S,
    )
    killed: dict[str, float] = {}

    def kill_leader(pool: WorkerPool) -> None:
        time.sleep(settings.gap_steady_s)  # steady load before the kill
        killed["at"] = time.monotonic()
        cluster.kill(leader)
        pool.broadcast({"cmd": "kill", "at": killed["at"]})
        with contextlib.suppress(BenchError):  # no recovery shows as "not recovered"
            poll(lambda: _write_anywhere(survivors), GAP_TIMEOUT_S, "a write after the kill")
        time.sleep(0.3)  # let the generator's own first successes complete
        pool.broadcast({"cmd": "stop"})

    results = pool.run(spec_for, GAP_CLIENTS, during=kill_leader)
    firsts = [r["first_ok_after_kill"] for r in results if r["first_ok_after_kill"] is not None]
    gap = min(firsts) - killed["at"] if firsts else None
    errors = merge_errors(results)
    shown = "not recovered" if gap is None else f"{gap:.3f} s"
    line = f"kill -9 leader {cluster.members[leader].name}: write gap {shown}; errors {errors}"
    cluster.restart(leader)
    cluster.leader()
    return gap, line


def check_perf(cluster: Cluster, settings: Settings, load: str) -> CheckPerf:
    env = {**child_env(), "ETCDCTL_API": "3"}
    argv = [
        settings.etcdctl,
        f"--endpoints={','.join(cluster.endpoints)}",
        "check",
        "perf",
        f"--load={load}",
    ]
    try:
        done = subprocess.run(argv, capture_output=True, env=env, timeout=CHECK_PERF_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return CheckPerf("ERROR", note=f"no answer within {CHECK_PERF_TIMEOUT_S:g} s")
    return CheckPerf.parse((done.stdout + done.stderr).decode(errors="replace"))


# --- one store ------------------------------------------------------------------------------


def _throughput_label(op: str, clients: int) -> str:
    kind = "writes/s" if op == "put" else "linearizable reads/s"
    return f"{kind}, {clients} client{'s' if clients > 1 else ''}"


def throughput_labels() -> list[str]:
    return [_throughput_label("put", c) for c in WRITE_CLIENTS] + [
        _throughput_label("range", c) for c in READ_CLIENTS
    ]


@dataclass
class Bench:
    """One store under measurement: its cluster, its figures, and whether it is still usable."""

    cluster: Cluster
    fig: BackendFigures
    failed: bool = False

    def step(self, what: Callable[[], None]) -> None:
        """Run one measurement step; a failure is reported and ends this store's measuring."""
        if self.failed:
            return
        try:
            what()
        except (BenchError, OSError, grpc.RpcError) as exc:
            name = self.cluster.name
            progress(f"{name}: measurement stopped: {exc}\n{traceback.format_exc(limit=3)}")
            if self.cluster.members:
                progress(self.cluster.logs())
            self.fig.version += " (INCOMPLETE: see stderr)"
            self.failed = True


def _start_and_load(bench: Bench, pool: WorkerPool, settings: Settings) -> None:
    cluster, fig = bench.cluster, bench.fig
    progress(f"{cluster.name}: starting 3 members")
    cluster.start()
    fig.version = f"server {status(cluster.endpoint(0)).version}"
    progress(f"{cluster.name}: loading {settings.mem_keys} keys for the memory figure")
    fig.memory = measure_memory(cluster, pool, settings)


def _one_run(bench: Bench, pool: WorkerPool, settings: Settings, run: int) -> None:
    cluster, fig = bench.cluster, bench.fig
    for op, levels in (("put", WRITE_CLIENTS), ("range", READ_CLIENTS)):
        for clients in levels:
            label = _throughput_label(op, clients)
            progress(f"{cluster.name}: run {run}/{settings.runs} {label}")
            result = measure_throughput(cluster, pool, settings, op, clients)
            fig.throughput.setdefault(label, []).append(result)
            progress(f"  {result.line()}")


def _failover_and_check_perf(bench: Bench, pool: WorkerPool, settings: Settings) -> None:
    cluster, fig = bench.cluster, bench.fig
    for n in range(1, settings.gap_repeats + 1):
        progress(f"{cluster.name}: leader kill {n}/{settings.gap_repeats}")
        gap, line = measure_gap(cluster, pool, settings)
        fig.gaps_s.append(gap)
        fig.gap_runs.append(line)
        progress(f"  {line}")
    for load in ("m", "l") if settings.check_perf else ():
        progress(f"{cluster.name}: etcdctl check perf --load={load} (about 60 s)")
        fig.check_perf[load] = check_perf(cluster, settings, load)
        progress(f"  {fig.check_perf[load].line()}")


def bench_stores(benches: list[Bench], pool: WorkerPool, settings: Settings) -> list[str]:
    """Measure every store, interleaved: the shared machine's speed drifts over minutes, so
    run N of each store is taken next to run N of the others. The store not being measured
    is paused (SIGSTOP). What failed is reported, the rest is kept. Returns the CPU probes."""
    probes = [f"at start {cpu_probe_s():.2f}"]
    try:
        for bench in benches:
            bench.step(lambda b=bench: _start_and_load(b, pool, settings))
            bench.step(bench.cluster.pause_all)
        for run in range(1, settings.runs + 1):
            for bench in benches:
                bench.step(bench.cluster.resume_all)
                bench.step(lambda b=bench, n=run: _one_run(b, pool, settings, n))
                bench.step(bench.cluster.pause_all)
            probes.append(f"after run {run} {cpu_probe_s():.2f}")
        for bench in benches:
            bench.step(bench.cluster.resume_all)
            bench.step(lambda b=bench: _failover_and_check_perf(b, pool, settings))
            bench.cluster.stop()
            probes.append(f"after {bench.cluster.name}'s failover {cpu_probe_s():.2f}")
    finally:
        for bench in benches:
            bench.cluster.kill_all()
    return probes


def measure_ceiling(pool: WorkerPool, settings: Settings, base_dir: Path) -> list[Throughput]:
    """The 500-client write load against `storebench.noop` servers, ``settings.runs`` times."""
    backend = NoopBackend()
    bench = Bench(Cluster(backend, base_dir / "noop"), BackendFigures(backend.name))
    clients = max(WRITE_CLIENTS)
    runs: list[Throughput] = []

    def one_run(run: int) -> None:
        progress(f"{backend.name}: run {run}/{settings.runs} {clients} clients")
        runs.append(measure_throughput(bench.cluster, pool, settings, "put", clients))
        progress(f"  {runs[-1].line()}")

    progress(f"{backend.name}: starting 3 servers")
    try:
        bench.step(bench.cluster.start)
        for run in range(1, settings.runs + 1):
            bench.step(lambda n=run: one_run(n))
    finally:
        bench.cluster.stop()
        bench.cluster.kill_all()
    return runs


def make_cluster(name: str, settings: Settings, base_dir: Path) -> Cluster:
    if name == "kubelite":
        return Cluster(KubeliteBackend(), base_dir / "kubelite")
    if not Path(settings.etcd).exists():
        raise SystemExit(f"etcd binary {settings.etcd} not found (apt-get install etcd-server)")
    return Cluster(EtcdBackend(settings.etcd), base_dir / "etcd")


def main() -> None:
    settings = parse_args()
    base_dir = settings.workdir or Path(tempfile.mkdtemp(prefix="store-bench-"))
    base_dir.mkdir(parents=True, exist_ok=True)
    header = machine_header(settings, base_dir)
    print("\n".join(header), flush=True)
    benches = [
        Bench(make_cluster(name, settings, base_dir), BackendFigures(name))
        for name in settings.only
    ]
    ceiling: list[Throughput] = []
    with WorkerPool(settings.procs, base_dir / "workers") as pool:
        probes = bench_stores(benches, pool, settings)
        if settings.ceiling:
            ceiling = measure_ceiling(pool, settings, base_dir)
    figures = [bench.fig for bench in benches]
    print()
    print(report(figures, throughput_labels()))
    if ceiling:
        print()
        print(ceiling_report(ceiling, max(WRITE_CLIENTS)))
    print(
        f"\nCPU speed probe, {PROBE_ITERATIONS:,} Python loop iterations in s (lower is "
        f"faster): {'; '.join(probes)}"
    )
    incomplete = any("INCOMPLETE" in f.version for f in figures)
    if settings.keep or settings.workdir or incomplete:
        print(f"\ndata dirs and logs kept in {base_dir}")
    else:
        shutil.rmtree(base_dir, ignore_errors=True)
    progress("done")


if __name__ == "__main__":
    main()
