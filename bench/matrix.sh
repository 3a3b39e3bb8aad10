#!/bin/bash
# bench/matrix.sh [N] [SAMPLE] — the all-pairs reachability matrix of an N-node
# star (default 100: 9,900 pairs), in one run inside a throwaway sandbox:
#   1. `vnet up` builds the star (ns n1..nN, eth0 10.0.I/256.I%256/16 on bridge br0);
#   2. `vnet ping --all` runs the matrix (3 times; the median is reported);
#   3. the same pairs pinged one by one with `ip netns exec nI ping -c1 -W1 ADDR`.
# Pinging all N(N-1) pairs one by one is not done: at ~10 ms a pair it takes
# minutes, and it fills the kernel's neighbour table (one table for the whole
# machine, gc_thresh3 = 1024 entries by default) faster than the kernel
# releases entries, after which ARP fails for everyone. So SAMPLE pairs
# (default 200, spread over the matrix) are timed and the per-pair time is
# extrapolated; the sample's neighbour entries are flushed afterwards.
#
# VNET=path/to/vnet picks the binary (default: target/release/vnet, else target/debug/vnet).
# Needs root, unshare, iproute2 and iputils-ping.
set -euo pipefail
N=${1:-100}
SAMPLE=${2:-200}
cd "$(dirname "$0")/.."
REPO=$PWD
if [ -z "${VNET:-}" ]; then
  if [ -x target/release/vnet ]; then VNET=$REPO/target/release/vnet; else VNET=$REPO/target/debug/vnet; fi
fi
export VNET N SAMPLE REPO

if [ -z "${VNET_BENCH_INSIDE:-}" ]; then
  # A fresh network and mount namespace with private /run and sysfs: the
  # lab lives and dies with this script; the host's network is not touched.
  exec env VNET_BENCH_INSIDE=1 unshare --net --mount --propagation private -- "$0" "$@"
fi

mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/netns /run/lock /run/bench
umount -l /sys 2>/dev/null || true
mount -t sysfs sysfs /sys
ip link set lo up

lab=/run/bench/star$N.yaml
{
  echo "name: star$N"
  echo "nodes:"
  echo "  br0: { kind: bridge }"
  for i in $(seq 1 "$N"); do echo "  n$i: {}"; done
  echo "links:"
  for i in $(seq 1 "$N"); do
    echo "  - endpoints: [{ node: n$i, interface: eth0, ip: 10.0.$((i / 256)).$((i % 256))/16 }, \"br0:br0-n$i\"]"
  done
} > "$lab"

now() { date +%s.%N; }
echo "vnet: $VNET"
echo "kernel $(uname -r), $(nproc) cores; neighbour table limit: $(ip ntable show name arp_cache 2>/dev/null | awk '/thresh3/ {print $6; exit}') entries"
"$VNET" up --quiet "$lab"

pairs=$((N * (N - 1)))
times=()
for run in 1 2 3; do
  out=$("$VNET" ping --all "star$N" --json)
  field() { echo "$out" | sed -n "s/^  \"$1\": \([0-9.]*\),\?$/\1/p" | head -1; }
  ms=$(field elapsed_ms) waves=$(field waves) ok=$(field reachable_pairs)
  peak=$(field neigh_peak) fulls=$(field table_fulls)
  times+=("$ms")
  echo "matrix run $run: $(printf %.0f "$ms") ms, $ok/$pairs pairs reachable, $waves waves, at most $peak neighbour entries at once, table full $fulls times"
done
median=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 2p)

# The same pairs one by one, the way a script without vnet would do it.
sample=$SAMPLE
[ "$sample" -gt "$pairs" ] && sample=$pairs
step=$((pairs / sample))
start=$(now)
k=0
fails=0
for ((p = 0; p < pairs && k < sample; p += step)); do
  src=$((p / (N - 1) + 1))
  d=$((p % (N - 1) + 1))
  [ "$d" -ge "$src" ] && d=$((d + 1))
  ip netns exec "n$src" ping -c1 -W1 -q "10.0.$((d / 256)).$((d % 256))" >/dev/null || fails=$((fails + 1))
  k=$((k + 1))
done
end=$(now)
for i in $(seq 1 "$N"); do ip -n "n$i" neigh flush all 2>/dev/null || true; done

awk -v ms="$median" -v start="$start" -v end="$end" -v k="$k" -v pairs="$pairs" -v fails="$fails" 'BEGIN {
  per = (end - start) / k; loop = per * pairs
  printf "vnet ping --all:  %.2f s for %d pairs (median of 3)\n", ms / 1000, pairs
  printf "one by one:       %.1f ms a pair with ip netns exec … ping -c1 over %d sampled pairs (%d failed) → %.1f s for %d pairs, extrapolated\n", per * 1000, k, fails, loop, pairs
  printf "ratio:            vnet ping --all is %.0f× faster\n", loop / (ms / 1000)
}'
