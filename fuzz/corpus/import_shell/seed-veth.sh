# 创建veth pair
sudo ip link add veth0 type veth peer name veth1

# 设置命名空间
sudo ip netns add ns1
sudo ip netns add ns2

# 把veth pair移到命名空间下面
sudo ip link set veth0 netns ns1
sudo ip link set veth1 netns ns2

# 查看命名空间网卡设备
sudo ip netns exec ns1 ip link show

# veth-pair设置ip地址
sudo ip netns exec ns1 ip address add 192.168.1.1/24 dev veth0
sudo ip netns exec ns2 ip address add 192.168.1.2/24 dev veth1

# 设置网卡为up状态
sudo ip netns exec ns1 ip link set veth0 up
sudo ip netns exec ns2 ip link set veth1 up
