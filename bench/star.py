#!/usr/bin/env python3
"""star.py N [BRIDGES] : print a lab file for an N-node star, the same network
as ../shared/bench/gen.sh builds: namespaces ns1..nsN, each with veth0 holding
10.0.(I/256).(I%256)/16, whose host end br0-vethI is a port of bridge br0.
With more than 1023 nodes (a bridge holds at most 1023 ports), nodes are
spread over BRIDGES bridges br0..brK joined by veths to a trunk bridge."""
import sys

n = int(sys.argv[1])
bridges = int(sys.argv[2]) if len(sys.argv) > 2 else max(1, -(-n // 1000))
print(f"name: star{n}")
print("nodes:")
for i in range(1, n + 1):
    print(f"  ns{i}: {{}}")
names = ["br0"] if bridges == 1 else [f"br{b}" for b in range(bridges)]
for b in names:
    print(f"  {b}: {{ kind: bridge }}")
if bridges > 1:
    print("  trunk: { kind: bridge }")
print("links:")
for i in range(1, n + 1):
    b = names[(i - 1) * bridges // n]
    ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" if n > 65000 else f"10.0.{i // 256}.{i % 256}"
    print(f"  - endpoints: [{{ node: ns{i}, interface: veth0, ip: {ip}/16 }}, \"{b}:{b}-veth{i}\"]")
if bridges > 1:
    for b in names:
        print(f"  - endpoints: [\"{b}:{b}-up\", \"trunk:trunk-{b}\"]")
