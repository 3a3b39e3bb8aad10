#!/usr/bin/env python3
"""mixed.py N [PREFIX [BASE]] : print a lab file of about N nodes that uses every kind
of object vnet makes, for the reliability suite (tests/reliability, bench/chaos.sh):
a router r1 (forwarding, a sysctl, a host link), a bridge br0 in the host
(with an address) and hosts h1.. on it, a namespace sw holding bridge brs
with hosts g1.. on it (IPv4 and IPv6, routes), one link with an MTU and a
MAC. PREFIX (e.g. "a-") goes in front of every name, so that several of
these labs can be up at once (give each its own BASE, 0-60: its subnets are
10.BASE+1.0.0/16 and up, so that the host's addresses differ); the lab is
named PREFIXmixedN."""
import sys

n = max(int(sys.argv[1]), 5)
p = sys.argv[2] if len(sys.argv) > 2 else ""
b = int(sys.argv[3]) if len(sys.argv) > 3 else 0
A, G, H = b + 1, b + 2, b + 3  # second octets: bridge br0, bridge brs, host link
hosts = (n - 2) // 2
guests = n - 2 - hosts
print(f"name: {p}mixed{n}")
print("nodes:")
print(f"  {p}r1: {{ forward: true, sysctls: {{ net.ipv4.conf.all.rp_filter: 0 }} }}")
print(f"  {p}sw: {{}}")
print(f"  {p}br0: {{ kind: bridge, ip: 10.{A}.255.254/16 }}")
print(f"  {p}brs: {{ kind: bridge, in: {p}sw }}")
for i in range(1, hosts + 1):
    print(f"  {p}h{i}: {{ routes: [\"default via 10.{A}.0.1\"] }}")
for i in range(1, guests + 1):
    print(f"  {p}g{i}: {{ routes: [\"default via 10.{G}.0.1\", \"10.{H}.0.0/30 via 10.{G}.0.1 metric 5\"] }}")
print("links:")
print(f"  - endpoints: [{{ node: {p}r1, interface: e0, ip: 10.{A}.0.1/16 }}, \"{p}br0:{p}br0-r1\"]")
print(f"  - endpoints: [{{ node: {p}r1, interface: e1, ip: [10.{G}.0.1/16, \"fd02::1/64\"] }}, \"{p}brs:p-r1\"]")
print(f"  - endpoints: [{{ node: host, interface: {p}vh, ip: 10.{H}.0.1/30 }}, {{ node: {p}r1, interface: e2, ip: 10.{H}.0.2/30, mac: \"02:00:00:00:00:01\" }}]")
print("    mtu: 1400")
for i in range(1, hosts + 1):
    print(f"  - endpoints: [{{ node: {p}h{i}, interface: eth0, ip: 10.{A}.{(i + 1) // 256}.{(i + 1) % 256}/16 }}, \"{p}br0:{p}br0-h{i}\"]")
for i in range(1, guests + 1):
    print(f"  - endpoints: [{{ node: {p}g{i}, interface: eth0, ip: [10.{G}.{(i + 1) // 256}.{(i + 1) % 256}/16, \"fd02::{i + 1:x}/64\"] }}, \"{p}brs:p-g{i}\"]")
