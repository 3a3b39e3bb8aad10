#!/bin/sh
# The seed document's bridge network, typed exactly as the seed does
# (../shared/seed/linux-virtual-network-devices.md), without sudo.
set -e
ip link add br0 type bridge
ip link set br0 up
ip link add veth0 type veth peer name br0-veth0
ip link add veth1 type veth peer name br0-veth1
ip link set br0-veth0 master br0
ip link set br0-veth1 master br0
ip link set br0-veth0 up
ip link set br0-veth1 up
ip netns add ns1
ip netns add ns2
ip link set veth0 netns ns1
ip link set veth1 netns ns2
ip netns exec ns1 ip address add 192.168.1.1/24 dev veth0
ip netns exec ns2 ip address add 192.168.1.2/24 dev veth1
ip netns exec ns1 ip link set veth0 up
ip netns exec ns2 ip link set veth1 up
