"""`kubelite demo`: a sample workload against the local cluster started by `kubelite up`.

It speaks the etcd v3 API through the generated stubs only (the CLI never imports the store):
writes keys through every member, reads them back linearizably, watches a prefix from a past
revision, and shows a lease expiring. Later issues replace this with Kubernetes objects.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
import grpc

from kubelite.cli.local import store_endpoints
from kubelite.pb import rpc_pb2, rpc_pb2_grpc

PREFIX = b"/demo/"


def _prefix_end(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes([prefix[-1] + 1])


@click.command("demo")
@click.option(
    "--dir", "cluster_dir", default=".kubelite", show_default=True, type=click.Path(file_okay=False)
)
@click.option("--keys", default=300, show_default=True, type=click.IntRange(1, 100_000))
def demo_command(cluster_dir: str, keys: int) -> None:
    """Run a sample workload on the local cluster and print what it saw."""
    urls = store_endpoints(Path(cluster_dir).resolve())
    if not urls:
        raise click.ClickException(f"no cluster found in {cluster_dir}; run `kubelite up` first")
    channels = [grpc.insecure_channel(u.removeprefix("http://")) for u in urls]
    kvs = [rpc_pb2_grpc.KVStub(c) for c in channels]
    try:
        _run(kvs, channels, keys)
    except grpc.RpcError as exc:
        raise click.ClickException(f"store answered {exc.code().name}: {exc.details()}") from None
    finally:
        for channel in channels:
            channel.close()


def _run(kvs: list[rpc_pb2_grpc.KVStub], channels: list[grpc.Channel], keys: int) -> None:
    kv = kvs[0]
    kv.DeleteRange(
        rpc_pb2.DeleteRangeRequest(key=PREFIX, range_end=_prefix_end(PREFIX)), timeout=10
    )
    started = time.perf_counter()
    first = 0
    for i in range(keys):
        put = kvs[i % len(kvs)].Put(
            rpc_pb2.PutRequest(key=PREFIX + b"key-%05d" % i, value=b"value-%d" % i), timeout=10
        )
        first = first or put.header.revision
    elapsed = time.perf_counter() - started
    click.echo(
        f"wrote {keys} keys through {len(kvs)} members in {elapsed:.2f}s "
        f"(revisions {first}..{put.header.revision})"
    )
    for i, member in enumerate(kvs):
        got = member.Range(
            rpc_pb2.RangeRequest(key=PREFIX, range_end=_prefix_end(PREFIX), count_only=True),
            timeout=10,
        )
        click.echo(f"  member {i + 1}: linearizable count under {PREFIX.decode()} = {got.count}")
    watch = rpc_pb2_grpc.WatchStub(channels[-1])
    create = rpc_pb2.WatchRequest(
        create_request=rpc_pb2.WatchCreateRequest(
            key=PREFIX, range_end=_prefix_end(PREFIX), start_revision=first
        )
    )
    stream = watch.Watch(iter([create]), timeout=10)
    seen = 0
    for response in stream:
        seen += len(response.events)
        if seen >= keys:
            stream.cancel()  # type: ignore[no-untyped-call]
            break
    click.echo(f"watch from revision {first} replayed {seen} events")
    lease = rpc_pb2_grpc.LeaseStub(channels[0])
    grant = lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=2), timeout=10)
    kv.Put(rpc_pb2.PutRequest(key=PREFIX + b"leased", value=b"x", lease=grant.ID), timeout=10)
    click.echo(f"lease {grant.ID:x} (TTL {grant.TTL}s) holds {PREFIX.decode()}leased; waiting...")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        left = kv.Range(rpc_pb2.RangeRequest(key=PREFIX + b"leased"), timeout=10).count
        if not left:
            click.echo("the lease expired and its key is gone")
            return
        time.sleep(0.25)
    raise click.ClickException("the leased key outlived its lease by 15s")
