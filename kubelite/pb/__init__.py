"""Generated protobuf/gRPC code for the etcd v3 API subset.

Everything in this package is generated from proto/kubelite/pb/*.proto and
rebuilt by scripts/gen-proto; do not edit by hand.
"""
