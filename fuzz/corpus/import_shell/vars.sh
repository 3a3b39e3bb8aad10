#!/bin/sh
set -e
NS=ns1
B=br0
sudo ip netns add $NS
ip netns add "ns2"
ip link add ${B} type bridge stp_state 1 vlan_filtering 0
ip link add veth0 type veth peer name br0-veth0 netns ns1
ip l s veth0 netns $NS
ip -n ns1 a add 10.0.0.1/24 dev veth0
ip netns exec ns1 sh -c 'ip link set lo up; ip route add default via 10.0.0.254 metric 10'
echo 1 > /proc/sys/net/ipv4/ip_forward
echo 0 | tee /proc/sys/net/ipv4/conf/all/rp_filter
ip netns exec ns1 sysctl -w net.ipv6.conf.all.forwarding=1
brctl addbr br1; brctl addif br1 br0-veth0
ip link set dev br0-veth0 master br0 mtu 1400 address 02:00:00:00:00:01 up
ip -6 -n ns1 route add 2001:db8::/64 dev veth0
ip link set br0-veth0 name x0 && ip link set x0 nomaster || true
for i in 1 2; do ip netns add n$i; done
ip link add d0 type dummy 2>/dev/null
ip addr flush dev x0
ip netns del ns2
