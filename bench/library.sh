#!/bin/sh
# The library's benchmark (examples/library_bench.rs): a 10-node lab up and
# down through vnet::Lab, median of N rounds (default 30), in a throwaway
# network and mount namespace of its own. Run from the repository root, as
# root: sh bench/library.sh [N]
set -eu
cargo build --release --example library_bench -q
exec unshare --net --mount --propagation private -- sh -c '
  set -e
  mount -t tmpfs -o mode=755 tmpfs /run
  mkdir -p /run/netns /run/lock
  ip link set lo up
  exec ./target/release/examples/library_bench "$@"
' library-bench "$@"
