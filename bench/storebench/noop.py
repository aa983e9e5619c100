"""A no-op etcd front end: the ceiling any Python gRPC store can reach on this machine.

    python -m storebench.noop --data-dir DIR

It serves `KV.Put` and `Maintenance.Status` with grpc.aio on the event loop every kubelite
process uses (`kubelite.eventloop`) and the server options a store member uses, and answers each
call at once: no Raft, no state, no disk. Under the benchmark's load generator its calls/s are
what a Python gRPC front end costs by itself, so a store built on one cannot pass that figure
however little its own code does. Like a kubelite member it listens on 127.0.0.1:0 and
publishes ``{"client_urls": [...]}`` in ``DIR/endpoints.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import grpc

from kubelite import eventloop
from kubelite.pb import rpc_pb2, rpc_pb2_grpc

VERSION = "noop"
HEADER = rpc_pb2.ResponseHeader(cluster_id=1, member_id=1, revision=1, raft_term=1)


class NoopKV(rpc_pb2_grpc.KVServicer):
    async def Put(self, request: rpc_pb2.PutRequest, context: Any) -> rpc_pb2.PutResponse:
        return rpc_pb2.PutResponse(header=HEADER)


class NoopMaintenance(rpc_pb2_grpc.MaintenanceServicer):
    async def Status(self, request: rpc_pb2.StatusRequest, context: Any) -> rpc_pb2.StatusResponse:
        return rpc_pb2.StatusResponse(header=HEADER, version=VERSION, leader=1)


async def serve(data_dir: Path) -> None:
    server = grpc.aio.server(
        options=[("grpc.so_reuseport", 0), ("grpc.max_concurrent_streams", 2**31 - 1)]
    )
    rpc_pb2_grpc.add_KVServicer_to_server(NoopKV(), server)
    rpc_pb2_grpc.add_MaintenanceServicer_to_server(NoopMaintenance(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    data_dir.mkdir(parents=True, exist_ok=True)
    published = data_dir / "endpoints.json.tmp"
    published.write_text(json.dumps({"client_urls": [f"http://127.0.0.1:{port}"]}))
    os.replace(published, data_dir / "endpoints.json")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(grace=0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    eventloop.run(serve(parser.parse_args().data_dir))


if __name__ == "__main__":
    main()
