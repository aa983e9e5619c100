"""API server benchmark: `kubelite apiserver`s over our 3-member store and over 3-member etcd 3.4.

    python bench/api_bench.py --quick      # smoke check, small counts, a few minutes
    python bench/api_bench.py --runs 3     # full run, per-run figures are medians of 3

For each store in turn (never both at once; `storebench.cluster` starts them on random
loopback addresses) two real `python -m kubelite apiserver` processes are started on
127.0.0.1 port 0, then, in this order:

1. memory: RSS of API server 1 and of each store member at start, and after N pods (10,000;
   --quick 1,000) were created through both servers and server 1's watch cache has them all;
2. per run (--runs): sequential GET / LIST / LIST resourceVersion=0 latency over a namespace
   of 100 pods; open-loop paced creates + GETs (100/s) through server 1; watch fan-out: 500
   and 1,000 HTTP watchers on server 1 (in --watch-procs processes), a paced stream of creates
   through server 2, delivery latency from each create's acknowledgement to its arrival at each
   watcher, and whether every watcher got every event; closed-loop pod creates/s from --clients
   clients (in --procs processes) through one server, then through both.

It prints figures and asserts nothing (DESIGN.md §7): progress on stderr; on stdout the
machine, every run's raw numbers, then one table kubelite | etcd | target. All traffic stays
on 127.0.0.0/8; every load is bounded in count and in time; every process it started is
stopped at exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import psutil
from apibench import http, measure
from apibench.pool import Workers
from apibench.results import (
    CREATE_LABELS,
    BackendFigures,
    CreateRate,
    Fanout,
    Latency,
    Memory,
    Paced,
    merge_counts,
    report,
)
from apibench.servers import ApiServers, cpu_seconds_of, rss_of
from apibench.worker import CreateSpec, WatchSpec
from storebench.cluster import BenchError, Cluster, EtcdBackend, KubeliteBackend, poll, status
from storebench.pool import split_clients

CREATE_NAMESPACES = tuple(f"bench-{i}" for i in range(4))
LIST_NAMESPACE, PACED_NAMESPACE, WATCH_NAMESPACE = "bench-list", "bench-paced", "bench-watch"
MAX_CREATES_PER_S = 4_000  # count bound of a closed-loop run: its duration x this
LOAD_TIMEOUT_S = 600.0
CONVERGE_TIMEOUT_S = 60.0
WATCH_GRACE_S = 10.0  # after the last write, how long watchers may take to get every event
RESULT_GRACE_S = 60.0
BUSY_LOAD_AVERAGE = 0.5
_STARTED = time.monotonic()


@dataclass(frozen=True)
class Settings:
    quick: bool
    runs: int
    only: list[str]
    clients: int
    procs: int
    warmup_s: float
    duration_s: float
    mem_pods: int
    list_pods: int
    samples: int
    paced_rate: float
    paced_s: float
    watchers: list[int]
    watch_procs: int
    watch_rate: float
    watch_s: float
    etcd: str
    workdir: Path | None
    keep: bool


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="small counts: a smoke check")
    p.add_argument("--runs", type=int, default=1, help="repeat the per-run figures; medians")
    p.add_argument("--only", choices=["kubelite", "etcd"], action="append", help="one store only")
    p.add_argument("--clients", type=int, default=96, help="closed-loop create clients (96)")
    p.add_argument("--procs", type=int, default=2, help="processes for those clients (2)")
    p.add_argument("--duration", type=float, help="measured seconds of a create run (10; quick 3)")
    p.add_argument("--warmup", type=float, help="unmeasured seconds before it (2; quick 0.5)")
    p.add_argument("--mem-pods", type=int, help="pods stored for the memory figure (10000; 1000)")
    p.add_argument("--watchers", type=int, nargs="+", help="watcher counts (500 1000; 50 100)")
    p.add_argument("--watch-procs", type=int, default=2, help="processes for the watchers (2)")
    p.add_argument("--etcd", default="/usr/bin/etcd", help="etcd 3.4 server binary")
    p.add_argument("--workdir", type=Path, help="data dirs and logs (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep data dirs and logs afterwards")
    a = p.parse_args(argv)
    quick = a.quick
    return Settings(
        quick=quick,
        runs=max(1, a.runs),
        only=a.only or ["kubelite", "etcd"],
        clients=max(1, a.clients),
        procs=max(1, a.procs),
        warmup_s=a.warmup if a.warmup is not None else (0.5 if quick else 2.0),
        duration_s=a.duration or (3.0 if quick else 10.0),
        mem_pods=a.mem_pods or (1_000 if quick else 10_000),
        list_pods=100,
        samples=100 if quick else 500,
        paced_rate=100.0,
        paced_s=3.0 if quick else 10.0,
        watchers=a.watchers or ([50, 100] if quick else [500, 1000]),
        watch_procs=max(1, a.watch_procs),
        watch_rate=5.0 if quick else 10.0,
        watch_s=2.0 if quick else 10.0,
        etcd=a.etcd,
        workdir=a.workdir,
        keep=a.keep,
    )


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def machine_header(settings: Settings) -> list[str]:
    load = os.getloadavg()
    lines = [
        f"api_bench on {platform.node()}: {os.cpu_count()} CPUs, load average {load[0]:.2f} "
        f"{load[1]:.2f} {load[2]:.2f} at start; Python {platform.python_version()}",
        f"settings: {'--quick, ' if settings.quick else ''}runs {settings.runs}; creates: "
        f"{settings.clients} clients in {settings.procs} processes, {settings.duration_s:g} s "
        f"after {settings.warmup_s:g} s warm-up; memory with {settings.mem_pods} pods; "
        f"{settings.samples} sequential GET/LIST samples; paced {settings.paced_rate:g} "
        f"creates/s for {settings.paced_s:g} s; watchers {settings.watchers} in "
        f"{settings.watch_procs} processes, {settings.watch_rate:g} creates/s for "
        f"{settings.watch_s:g} s",
    ]
    if load[0] > BUSY_LOAD_AVERAGE:
        lines.append(
            f"WARNING: load average {load[0]:.2f} > {BUSY_LOAD_AVERAGE} at start: other work on "
            "this machine skews these figures"
        )
    return lines


# --- one store and its API servers ------------------------------------------------------------


@dataclass
class Bench:
    """What every measurement on one store needs."""

    cluster: Cluster
    servers: ApiServers
    settings: Settings
    log_dir: Path

    def store_rss(self) -> list[int]:
        return [rss_of(member.pid) for member in self.cluster.members]

    def store_cpu(self) -> float:
        return cpu_seconds_of([member.pid for member in self.cluster.members])


def run_creates(
    bench: Bench,
    urls: list[str],
    prefix: str,
    count: int,
    timing: tuple[float, float],
    sample_cpu: bool = True,
) -> tuple[list[dict[str, Any]], list[float]]:
    """Closed-loop creates over `urls`: worker results, and CPU samples (`_sample_cpu`) when
    asked (a load bounded by its count may end long before its time bound)."""
    clients, (warmup_s, duration_s) = bench.settings.clients, timing
    specs = [
        CreateSpec(
            urls=urls,
            namespaces=list(CREATE_NAMESPACES),
            clients=share,
            client_offset=offset,
            name_prefix=prefix,
            warmup_s=warmup_s,
            duration_s=duration_s,
            max_ops=ops,
        )
        for (offset, share), (_, ops) in zip(
            split_clients(clients, bench.settings.procs),
            split_clients(count, bench.settings.procs),
            strict=True,
        )
    ]
    with Workers(specs, bench.log_dir / "workers") as workers:
        workers.broadcast({"cmd": "go"})
        cpu = _sample_cpu(bench, warmup_s, duration_s) if sample_cpu else []
        return workers.results(warmup_s + duration_s + RESULT_GRACE_S), cpu


def _sample_cpu(bench: Bench, warmup_s: float, duration_s: float) -> list[float]:
    """[API servers, store] CPU seconds at the window's start and end, then machine busy %."""
    time.sleep(warmup_s)  # a benchmark paces itself by the clock
    psutil.cpu_percent()
    first = [cpu_seconds_of(bench.servers.pids), bench.store_cpu()]
    time.sleep(duration_s)
    second = [cpu_seconds_of(bench.servers.pids), bench.store_cpu()]
    return [*first, *second, psutil.cpu_percent()]


def measure_create_rate(bench: Bench, servers: int, run: int) -> CreateRate:
    s = bench.settings
    count = int((s.warmup_s + s.duration_s) * MAX_CREATES_PER_S)
    urls = bench.servers.urls[:servers]
    timing = (s.warmup_s, s.duration_s)
    results, cpu = run_creates(bench, urls, f"t{run}s{servers}", count, timing)
    seconds = [us / 1e6 for r in results for us in r["latencies_us"]]
    cores = [r["cpu_s"] / r["wall_s"] for r in results if r["wall_s"] > 0]
    return CreateRate(
        ops_per_s=sum(r["ops"] for r in results) / s.duration_s,
        latency=Latency.of_seconds(seconds, merge_counts([r["errors"] for r in results])),
        client_cores=sum(cores),
        busiest_client_cores=max(cores, default=0.0),
        apiserver_cores=(cpu[2] - cpu[0]) / s.duration_s,
        store_cores=(cpu[3] - cpu[1]) / s.duration_s,
        machine_busy_pct=cpu[4],
    )


def wait_store_converged(cluster: Cluster) -> None:
    def same_revision() -> bool:
        return len({status(endpoint).header.revision for endpoint in cluster.endpoints}) == 1

    poll(same_revision, CONVERGE_TIMEOUT_S, f"{cluster.name} members at the same revision")


def wait_cached(url: str, namespace: str, name: str) -> None:
    """Until `url`'s watch cache has the pod (GET resourceVersion=0 is served from it)."""

    def cached() -> bool:
        path = url + http.pods_path(namespace, name)
        return asyncio.run(_get_cached(path)) == 200

    poll(cached, CONVERGE_TIMEOUT_S, f"pod {namespace}/{name} in the watch cache of {url}")


async def _get_cached(path: str) -> int:
    async with http.client_session() as session:
        return await http.get_status(session, path, {"resourceVersion": "0"})


def measure_memory(bench: Bench, rss_at_start: tuple[int, list[int]]) -> Memory:
    """Store `mem_pods` pods through both servers; RSS once server 1's cache has them all."""
    s, urls = bench.settings, bench.servers.urls
    started = time.monotonic()
    timing = (0.0, LOAD_TIMEOUT_S)
    results, _ = run_creates(bench, urls, "m", s.mem_pods, timing, sample_cpu=False)
    created = sum(r["total_ok"] for r in results)
    progress(f"  created {created} pods in {time.monotonic() - started:.1f} s")
    # The sentinel goes in after every other pod, so once server 1 has it, it has them all.
    asyncio.run(measure.fill_namespace(urls[-1], CREATE_NAMESPACES[0], "sentinel", 1))
    wait_cached(urls[0], CREATE_NAMESPACES[0], "sentinel-0")
    wait_store_converged(bench.cluster)
    return Memory(
        pods=created + 1,
        apiserver_rss=bench.servers.rss(0),
        apiserver_rss_empty=rss_at_start[0],
        store_rss=bench.store_rss(),
        store_rss_empty=rss_at_start[1],
    )


def measure_latency(bench: Bench, listed: list[str], fig: BackendFigures) -> None:
    s, url = bench.settings, bench.servers.urls[0]
    gets = [http.pods_path(LIST_NAMESPACE, name) for name in listed]
    collection = [http.pods_path(LIST_NAMESPACE)]
    for label, paths, params in (
        ("GET pod", gets, {}),
        ("LIST 100 pods", collection, {}),
        ("LIST 100 pods, resourceVersion=0", collection, {"resourceVersion": "0"}),
    ):
        result = asyncio.run(measure.sequential_latency(url, paths, params, s.samples, 60.0))
        fig.latency.setdefault(label, []).append(result)
        progress(f"  {label}: {result.line()}")


def measure_fanout(bench: Bench, watchers: int, run: int) -> Fanout:
    s, urls = bench.settings, bench.servers.urls
    watched, writer = urls[0], urls[-1]
    rv = asyncio.run(_list_revision(watched))
    prefix = f"w{run}n{watchers}"
    specs = [
        WatchSpec(watched, WATCH_NAMESPACE, rv, share, prefix, s.watch_s + LOAD_TIMEOUT_S)
        for _, share in split_clients(watchers, s.watch_procs)
    ]
    with Workers(specs, bench.log_dir / "watchers") as group:
        opened = sum(r["opened"] for r in group.ready)
        progress(f"  {opened}/{watchers} watchers open; {s.watch_rate:g} creates/s")
        cpu0, t0 = cpu_seconds_of(bench.servers.pids[:1]), time.monotonic()
        writes = measure.paced_writes(writer, WATCH_NAMESPACE, prefix, s.watch_rate, s.watch_s)
        acks, _ = asyncio.run(writes)
        group.broadcast({"cmd": "finish", "count": len(acks), "grace_s": WATCH_GRACE_S})
        results = group.results(WATCH_GRACE_S + RESULT_GRACE_S)
        cores = (cpu_seconds_of(bench.servers.pids[:1]) - cpu0) / (time.monotonic() - t0)
    return Fanout.fold(watchers, opened, acks, results, cores)


async def _list_revision(url: str) -> str:
    async with http.client_session() as session:
        return await http.list_revision(session, url, WATCH_NAMESPACE)


def measure_paced(bench: Bench, listed: list[str], run: int) -> Paced:
    s, url = bench.settings, bench.servers.urls[0]
    gets = [http.pods_path(LIST_NAMESPACE, name) for name in listed]
    paced = measure.paced_creates_and_gets(
        url, PACED_NAMESPACE, f"p{run}", gets, s.paced_rate, s.paced_s
    )
    return asyncio.run(paced)


def one_run(bench: Bench, run: int, listed: list[str], fig: BackendFigures) -> None:
    s, name = bench.settings, bench.cluster.name
    progress(f"{name}: run {run}/{s.runs}: sequential GET and LIST")
    measure_latency(bench, listed, fig)
    progress(f"{name}: run {run}/{s.runs}: paced {s.paced_rate:g} creates/s + GETs")
    fig.paced.append(measure_paced(bench, listed, run))
    progress(f"  {fig.paced[-1].line()}")
    for watchers in s.watchers:
        progress(f"{name}: run {run}/{s.runs}: watch fan-out, {watchers} watchers")
        fig.fanout.setdefault(watchers, []).append(measure_fanout(bench, watchers, run))
        progress(f"  {fig.fanout[watchers][-1].line()}")
    for servers, label in enumerate(CREATE_LABELS, start=1):
        progress(f"{name}: run {run}/{s.runs}: pod creates through {label}")
        fig.creates.setdefault(label, []).append(measure_create_rate(bench, servers, run))
        progress(f"  {fig.creates[label][-1].line()}")


async def _prepare_namespaces(url: str) -> None:
    async with http.client_session() as session:
        for namespace in (*CREATE_NAMESPACES, LIST_NAMESPACE, PACED_NAMESPACE, WATCH_NAMESPACE):
            await http.ensure_namespace(session, url, namespace)


def measure_all(bench: Bench, fig: BackendFigures) -> None:
    s, name, url = bench.settings, bench.cluster.name, bench.servers.urls[0]
    fig.version = f"store {status(bench.cluster.endpoint(0)).version}"
    at_start = (bench.servers.rss(0), bench.store_rss())
    asyncio.run(_prepare_namespaces(url))
    progress(f"{name}: memory: creating {s.mem_pods} pods")
    fig.memory = measure_memory(bench, at_start)
    progress(f"  {fig.memory.line()}")
    listed = asyncio.run(measure.fill_namespace(url, LIST_NAMESPACE, "l", s.list_pods))
    if len(listed) < s.list_pods:
        raise BenchError(f"only {len(listed)} of {s.list_pods} pods created in {LIST_NAMESPACE}")
    for run in range(1, s.runs + 1):
        one_run(bench, run, listed, fig)


def bench_store(cluster: Cluster, settings: Settings, base_dir: Path) -> BackendFigures:
    """Everything measured on one store; what failed is reported, the rest is kept."""
    fig = BackendFigures(cluster.name)
    servers: ApiServers | None = None
    progress(f"{cluster.name}: starting 3 store members")
    try:
        cluster.start()
        progress(f"{cluster.name}: starting 2 API servers")
        servers = ApiServers(cluster.endpoints, base_dir / "apiservers", count=2)
        servers.start()
        measure_all(Bench(cluster, servers, settings, base_dir), fig)
    except (BenchError, OSError, grpc.RpcError, aiohttp.ClientError, http.RequestFailed) as exc:
        progress(f"{cluster.name}: measurement stopped: {exc}\n{traceback.format_exc(limit=3)}")
        if servers is not None:
            progress(servers.logs())
        if cluster.members:
            progress(cluster.logs())
        fig.version += " (INCOMPLETE: see stderr)"
    finally:
        if servers is not None:
            servers.stop()
            servers.kill_all()
        cluster.stop()
        cluster.kill_all()
    return fig


def make_cluster(name: str, settings: Settings, base_dir: Path) -> Cluster:
    if name == "kubelite":
        return Cluster(KubeliteBackend(), base_dir / "kubelite" / "store")
    if not Path(settings.etcd).exists():
        raise SystemExit(f"etcd binary {settings.etcd} not found (apt-get install etcd-server)")
    return Cluster(EtcdBackend(settings.etcd), base_dir / "etcd" / "store")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds every `finally`, which stops our processes


def main() -> None:
    settings = parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    base_dir = settings.workdir or Path(tempfile.mkdtemp(prefix="api-bench-"))
    base_dir.mkdir(parents=True, exist_ok=True)
    print("\n".join(machine_header(settings)), flush=True)
    try:
        figures = [
            bench_store(make_cluster(name, settings, base_dir), settings, base_dir / name)
            for name in settings.only
        ]
    except KeyboardInterrupt:  # every process was stopped on the way out (`finally` blocks)
        progress(f"interrupted; processes stopped; logs kept in {base_dir}")
        raise SystemExit(130) from None
    print()
    print(report(figures))
    incomplete = any("INCOMPLETE" in f.version for f in figures)
    if settings.keep or settings.workdir or incomplete:
        print(f"\ndata dirs and logs kept in {base_dir}")
    else:
        shutil.rmtree(base_dir, ignore_errors=True)
    progress("done")


if __name__ == "__main__":
    main()
