#!/bin/bash
# bench/seed.sh [RUNS=5]: the seed's bridge network built by the seed's own
# script (tests/fixtures/seed-bridge.sh, one `ip` per step) and by
# `vnet up examples/seed-bridge.yaml`, each in a fresh throwaway sandbox,
# timed until ns1 reaches ns2. Prints the medians and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
VNET=${VNET_BIN:-$PWD/target/release/vnet}
[ -x "$VNET" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v ping >/dev/null || { echo "needs iputils-ping for the check" >&2; exit 1; }

# One measurement inside a new network + mount namespace with its own /run.
one() {
  unshare --net --mount --propagation private -- sh -c '
    mount -t tmpfs tmpfs /run && mkdir -p /run/netns
    umount -l /sys 2>/dev/null; mount -t sysfs sysfs /sys
    mkdir -p /run/shim && printf "#!/bin/sh\nexec \"\$@\"\n" > /run/shim/sudo && chmod +x /run/shim/sudo
    start=$(date +%s%N)
    case "$1" in
      seed) PATH=/run/shim:$PATH sh tests/fixtures/seed-bridge.sh >/dev/null ;;
      vnet) "$2" up -q examples/seed-bridge.yaml >/dev/null ;;
    esac
    # Until the network works: the first answered ping, retried each 10 ms.
    until ip netns exec ns1 ping -c1 -W1 -q 192.168.1.2 >/dev/null 2>&1; do sleep 0.01; done
    end=$(date +%s%N)
    echo $(( (end - start) / 1000 ))
  ' one "$1" "$VNET"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for m in seed vnet; do
  for _ in $(seq "$RUNS"); do one "$m"; done | median > "/tmp/seed-bench.$m"
done
seed=$(cat /tmp/seed-bench.seed); vnet=$(cat /tmp/seed-bench.vnet)
printf 'seed script (one ip per step): %6.1f ms until ns1 pings ns2 (median of %s)\n' "$(echo "$seed/1000" | bc -l)" "$RUNS"
printf 'vnet up:                       %6.1f ms until ns1 pings ns2 (median of %s)\n' "$(echo "$vnet/1000" | bc -l)" "$RUNS"
printf 'ratio:                         %6.1fx\n' "$(echo "$seed/$vnet" | bc -l)"
rm -f /tmp/seed-bench.seed /tmp/seed-bench.vnet
