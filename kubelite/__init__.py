"""kubelite: a Kubernetes-style control plane over a Raft-replicated, etcd-compatible store.

gRPC's fork support is turned off before anything imports grpc: a store member forks to write
its snapshots (`kubelite.store.raft`), gRPC would then restart its threads in the child on
state copied mid-call, and the child would crash. No kubelite process uses gRPC after a fork.
"""

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
