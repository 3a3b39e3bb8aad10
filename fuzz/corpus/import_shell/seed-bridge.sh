# 创建bridge
sudo ip link add br0 type bridge
sudo ip link set br0 up

# 创建veth-pair
sudo ip link add veth0 type veth peer name br0-veth0
sudo ip link add veth1 type veth peer name br0-veth1

# 把peer name 移到bridge中
sudo ip link set br0-veth0 master br0
sudo ip link set br0-veth1 master br0

# 设置peer name 为up
sudo ip link set br0-veth0 up
sudo ip link set br0-veth1 up

# 创建namespace
sudo ip netns add ns1
sudo ip netns add ns2

# 把peer name移到 namespace中
sudo ip link set veth0 netns ns1
sudo ip link set veth1 netns ns2

# veth-pair设置ip地址
sudo ip netns exec ns1 ip address add 192.168.1.1/24 dev veth0
sudo ip netns exec ns2 ip address add 192.168.1.2/24 dev veth1

# 设置网卡为up状态
sudo ip netns exec ns1 ip link set veth0 up
sudo ip netns exec ns2 ip link set veth1 up
