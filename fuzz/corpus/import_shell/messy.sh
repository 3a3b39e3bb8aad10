#!/bin/bash
# A router between two hosts, the way people type it (and a few things a lab cannot hold).
set -e

NS=h1
sudo ip netns add $NS
sudo ip netns add h2
sudo ip netns add r1

# veth pairs created straight into place
sudo ip link add eth0 netns h1 type veth peer name eth1 netns r1
ip -n h2 link add eth0 type veth peer name eth2 netns r1
ip -n h1 address add 10.0.1.2/24 dev eth0
ip -n r1 addr add 10.0.1.1/24 dev eth1 && ip -n r1 a add 2001:db8:1::1/64 dev eth1
ip -n h2 addr add 10.0.2.2/24 brd + dev eth0
sudo ip netns exec r1 ip addr add 10.0.2.1/24 dev eth2
for ns in h1 h2 r1; do ip -n $ns link set lo up; done
ip -n h1 link set eth0 up mtu 1400
ip -n r1 link set dev eth1 mtu 1400 up
ip -n r1 link set eth2 up; ip -n h2 link set eth0 address 02:00:00:00:00:22 up
sudo ip netns exec r1 sysctl -w net.ipv4.ip_forward=1
ip netns exec r1 sysctl -qw net.ipv6.conf.all.forwarding=1
ip -n h1 route add default via 10.0.1.1
ip -n h2 route add 10.0.1.0/24 via 10.0.2.1 metric 10
ip netns exec h2 ping -c 1 10.0.1.2
ip link add dummy0 type dummy
ip link add br9 type bridge stp_state 1 forward_delay 4
ip -n h1 route add 192.0.2.0/24 via 10.0.1.1 table 100
iptables -A FORWARD -j ACCEPT
