"""Helpers shared by integration, conformance and drill tests.

- `wait`: the one way to wait for something (`wait_for`).
- `procs`: child processes with their output in log files, and the registry whose logs are
  attached to a failing test's report.
- `grpc_api`: channels and stubs for the etcd v3 gRPC API, and bounded bidirectional streams.
- `store_cluster`, `etcd_cluster`, `kubelite_cluster`: 3- or 5-member store clusters on loopback.
- `write_load`: a bounded write load with acknowledged-write bookkeeping, and the check that
  no acknowledged write is lost.
"""
