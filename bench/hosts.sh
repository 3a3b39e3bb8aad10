#!/bin/bash
# bench/hosts.sh — one lab over two hosts: NODES nodes per host (250), each
# host a bridge with its nodes as ports, the two bridges joined by a tunnel,
# and CROSS point-to-point links across the hosts (50), each a tunnel.
# Each "host" is a network namespace with a mount namespace of its own (own
# /run: /run/netns, /run/vnet) on an underlay bridge, inside one outer
# sandbox (new network and mount namespace): the machine's network is never
# touched. Prints each host's `vnet up` time (run one after the other, then
# both at once), a full-size unfragmented ping across, and `down` times.
# Needs root, unshare, nsenter, iproute2, iputils-ping, python3.
#   bench/hosts.sh            # 2 x 250 nodes
#   NODES=500 bench/hosts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/hosts.sh builds networks (in a sandbox) and needs root" >&2; exit 1; }
NODES=${NODES:-250} CROSS=${CROSS:-50} ROUNDS=${ROUNDS:-3}
cargo build --release --quiet
VNET=$PWD/target/release/vnet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$NODES" "$CROSS" >"$work/lab.yaml" <<'EOF'
import sys
n, cross = int(sys.argv[1]), int(sys.argv[2])
print("name: split-bench")
print("hosts:\n  - { name: h1, address: 10.99.0.1 }\n  - { name: h2, address: 10.99.0.2 }")
print("nodes:\n  br1: { kind: bridge }\n  br2: { kind: bridge, host: h2 }")
for h in (1, 2):
    for i in range(n):
        print(f"  h{h}n{i}: {{ host: h{h} }}")
print("links:\n  - endpoints: [\"br1:t-br2\", \"br2:t-br1\"]")
for h in (1, 2):
    for i in range(n):
        a = (h - 1) * n + i + 1
        print(f"  - endpoints: [{{ node: h{h}n{i}, interface: eth0, ip: 10.{a // 250}.{a % 250}.1/8 }}, \"br{h}:b{h}p{i}\"]")
for i in range(cross):
    print(f"  - endpoints: [{{ node: h1n{i}, interface: x0, ip: 172.16.{i}.1/24 }}, {{ node: h2n{i}, interface: x0, ip: 172.16.{i}.2/24 }}]")
EOF
cat >"$work/run.sh" <<EOF
set -eu
mount -t tmpfs tmpfs /run; mkdir -p /run/netns /run/lock /run/hosts
ip link add ul type bridge; ip link set ul up
setup='mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/netns /run/lock && umount -l /sys 2>/dev/null; mount -t sysfs sysfs /sys && ip link set lo up && echo \$\$ >/tmp/hostpid.\$H && exec sleep 100000'
pids=""
# The hosts' holder processes end with the run, also when a step fails.
trap 'kill \$pids 2>/dev/null || true' EXIT
for i in 1 2; do
  H=\$i unshare --net --mount --propagation private sh -c "\$setup" &
  pids="\$pids \$!"
  while [ ! -s /tmp/hostpid.\$i ]; do sleep 0.05; done
  p=\$(cat /tmp/hostpid.\$i); rm -f /tmp/hostpid.\$i
  eval "pid\$i=\$p"
  ip link add u\$i type veth peer name eth0 netns \$p
  ip link set u\$i master ul up
  nsenter -t \$p -n -m ip link set eth0 addrgenmode none
  nsenter -t \$p -n -m ip addr add 10.99.0.\$i/24 dev eth0
  nsenter -t \$p -n -m ip link set eth0 up
done
on() { local h=\$1; shift; local p; eval "p=\\\$pid\$h"; nsenter -t \$p -n -m "\$@"; }
t() { local s=\$(date +%s%N); "\$@" >/dev/null; echo \$(( (\$(date +%s%N) - s) / 1000000 )); }
for r in \$(seq 1 $ROUNDS); do
  a=\$(t on 1 $VNET up $work/lab.yaml -q); b=\$(t on 2 $VNET up $work/lab.yaml -q)
  on 1 ip netns exec h1n0 ping -c1 -W2 -M do -s 1422 172.16.0.2 >/dev/null && okp=ok || okp=FAILED
  on 1 ip netns exec h1n1 ping -c1 -W2 -M do -s 1422 10.1.2.1 >/dev/null && okb=ok || okb=FAILED
  c=\$(t on 1 $VNET down split-bench -q); d=\$(t on 2 $VNET down split-bench -q)
  s=\$(date +%s%N)
  on 1 $VNET up $work/lab.yaml -q & x=\$!
  on 2 $VNET up $work/lab.yaml -q & y=\$!
  wait \$x; wait \$y
  both=\$(( (\$(date +%s%N) - s) / 1000000 ))
  on 1 $VNET down split-bench -q; on 2 $VNET down split-bench -q
  echo "round \$r: up h1 \${a} ms, up h2 \${b} ms, both at once \${both} ms; down h1 \${c} ms, h2 \${d} ms; p2p 1450-byte DF ping \$okp, bridge-to-bridge \$okb"
done
kill \$pids 2>/dev/null || true
EOF
echo "2 hosts x $NODES nodes ($((2 * NODES + 2)) nodes, $((2 * NODES + 1 + CROSS)) links, $((1 + CROSS)) tunnels per host)"
unshare --net --mount --propagation private bash "$work/run.sh"
