#!/bin/bash
# Experiment 5: what dies with what. kill -9 of a member (its veth goes
# with its netns: how fast?), kill -9 of the holder (the network's netns
# goes; the user namespace stays, held by the members' child user
# namespaces, and can be found again with NS_GET_PARENT to rebuild);
# a second network's netns in the same user namespace (isolation);
# container:NAME (a sandbox in another's netns).
set -u
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
holder net1 10.89.0
member m1 net1; member m2 net1; member m3 net1
attach m1 net1 10.89.0.2; attach m2 net1 10.89.0.3; attach m3 net1 10.89.0.4
h=$(cat $D/net1.pid)
echo "== kill -9 of member m3: its bridge port"
inns net1 ip -br link show master br0
t0=$(date +%s%N); kill -9 $(cat $D/m3.pid); rm $D/m3.pid
for i in $(seq 1000); do inns net1 ip link show v-m3 >/dev/null 2>&1 || break; sleep 0.002; done
echo "v-m3 gone from the bridge after $(( ($(date +%s%N)-t0)/1000000 )) ms (incl. nsenter+ip per poll)"
inns net1 ip -br link show master br0
echo "== a second network (own netns, same user namespace), started from inside the holder's userns"
rm -f $D/net2.pid
setsid nsenter -U -t $h -- unshare -n sh -c "ip link set lo up; ip link add br0 type bridge; ip addr add 10.89.1.1/24 dev br0; ip link set br0 up; echo \$\$ > $D/net2.pid; exec sleep infinity" </dev/null >/dev/null 2>&1 &
waitfile $D/net2.pid
member n1 net1   # its user namespace: a child of the shared one
h2=$(cat $D/net2.pid); n1=$(cat $D/n1.pid)
echo "userns of net1 holder / net2 holder: $(readlink /proc/$h/ns/user) $(readlink /proc/$h2/ns/user)"
nsenter -U -n -t $h2 --preserve-credentials -- sh -c "ip link add v-n1 type veth peer name eth0 netns $n1 && ip link set v-n1 master br0 up"
inns n1 sh -c 'ip addr add 10.89.1.2/24 dev eth0; ip link set eth0 up; ip route add default via 10.89.1.1'
echo "-- net2 member -> its gateway:"; inns n1 busybox ping -c1 -W1 10.89.1.1 | grep -o '1 packets received' || echo FAIL
echo "-- net1 member -> net2 member (must fail):"; inns m1 busybox ping -c1 -W1 10.89.1.2 >/dev/null 2>&1 && echo "REACHED (bad)" || echo "unreachable (good)"
echo "-- a sandbox on both networks: m2 gets a second veth from net2"
nsenter -U -n -t $h2 --preserve-credentials -- sh -c "ip link add v-m2 type veth peer name eth1 netns $(cat $D/m2.pid) && ip link set v-m2 master br0 up" &&
inns m2 sh -c 'ip addr add 10.89.1.3/24 dev eth1; ip link set eth1 up' && inns m2 busybox ping -c1 -W1 10.89.1.2 | grep -o '1 packets received'
echo "-- and it does not forward between them (ip_forward in m2's netns: $(inns m2 sysctl -n net.ipv4.ip_forward))"
echo "== container:m1: a new sandbox in m1's netns; (i) own user namespace, a child of m1's"
m1=$(cat $D/m1.pid)
nsenter -U -n -t $m1 -- $NSMK -N -- sh -c 'ip -br -4 addr show eth0; python3 -c "import socket;s=socket.socket();s.bind((\"0.0.0.0\",80));print(\"bind :80 ok\")" 2>&1 | tail -1; ip link set eth0 mtu 1400 2>&1 | tail -1'
echo "-- (ii) sharing m1's user namespace (as a pod does)"
nsenter -U -n -t $m1 -- sh -c 'python3 -c "import socket;s=socket.socket();s.bind((\"0.0.0.0\",80));print(\"bind :80 ok\")"'
echo "== kill -9 of the holder of net1"
kill -9 $h; rm $D/net1.pid; sleep 0.3
echo "-- m1's interfaces now:"; inns m1 ip -br link
echo "-- m1 -> m2 (was the same bridge):"; inns m1 busybox ping -c1 -W1 10.89.0.3 >/dev/null 2>&1 && echo reached || echo unreachable
echo "== rebuild: the network user namespace is still alive (the members' user namespaces hold it); find it with NS_GET_PARENT"
python3 - "$m1" "$D" <<'PY'
import os, sys, fcntl, subprocess
m1, d = sys.argv[1], sys.argv[2]
fd = os.open(f"/proc/{m1}/ns/user", os.O_RDONLY)
parent = fcntl.ioctl(fd, 0xb702)  # NS_GET_PARENT
print("parent userns:", os.readlink(f"/proc/self/fd/{parent}"))
subprocess.Popen(["setsid", "nsenter", f"--user=/proc/self/fd/{parent}", "--", "unshare", "-n", "sh", "-c",
	f"ip link set lo up; ip link add br0 type bridge; ip addr add 10.89.0.1/24 dev br0; ip link set br0 up; echo $$ > {d}/net1.pid; exec sleep infinity"],
	pass_fds=[parent], stdin=subprocess.DEVNULL)
PY
waitfile $D/net1.pid; h=$(cat $D/net1.pid)
echo "new holder $h userns $(readlink /proc/$h/ns/user)"
attach m1 net1 10.89.0.2 && attach m2 net1 10.89.0.3 && echo "re-attached m1 m2"
echo "-- m1 -> m2 after rebuild:"; inns m1 busybox ping -c1 -W1 10.89.0.3 | grep -o '1 packets received' || echo FAIL
echo "== last member gone -> the user namespace goes (nothing else holds it)"
