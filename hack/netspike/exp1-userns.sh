#!/bin/bash
# Experiment 1: holder userns+netns with a bridge; two members whose user
# namespaces are children of the holder's; veth between; ping, TCP; who
# can do what.
set -u
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
holder net1 10.89.0
member m1 net1; member m2 net1
h=$(cat $D/net1.pid); p1=$(cat $D/m1.pid); p2=$(cat $D/m2.pid)
echo "== user namespaces (inode) and their parents"
for p in $$ $h $p1 $p2; do printf '%-8s user=%s net=%s\n' $p "$(readlink /proc/$p/ns/user)" "$(readlink /proc/$p/ns/net)"; done
echo "holder uid_map:"; cat /proc/$h/uid_map
echo "member uid_map read from the holder's userns (the identity it wrote):"; nsenter -U -t $h -- cat /proc/$p1/uid_map
echo "member uid_map read from the host (composed: the same host IDs as the holder):"; cat /proc/$p1/uid_map
time attach m1 net1 10.89.0.2
attach m2 net1 10.89.0.3
echo "== ping m1 -> m2 by IP"
inns m1 busybox ping -c 2 -W 1 10.89.0.3 | tail -2
echo "== TCP m2 server, m1 client"
inns m2 sh -c 'python3 -c "
import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind((\"0.0.0.0\",8080));s.listen();c,a=s.accept();c.sendall(b\"hello from m2, you are %s\n\" % a[0].encode())" &' ; sleep 0.3
inns m1 python3 -c 'import socket;s=socket.create_connection(("10.89.0.3",8080));print(s.recv(100).decode().strip())'
echo "== UDP m2 echo, m1 client"
nsenter -U -n -t $p2 --preserve-credentials -- python3 -c '
import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("0.0.0.0",5353));d,a=s.recvfrom(100);s.sendto(b"udp echo to "+a[0].encode(),a)' & sleep 0.3
inns m1 python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(2);s.sendto(b"x",("10.89.0.3",5353));print(s.recv(100).decode())'
echo "== can a member's root touch the bridge? (it has no capability in the holder's netns)"
inns m1 sh -c "nsenter -n -t $h ip link show br0 2>&1 | head -1"
echo "== can a member's root add an interface in its own netns? (yes: it owns it)"
inns m1 ip link add x0 type veth peer name x1 && echo ok && inns m1 ip link del x0
echo "== from the host (uid $(id -u)), direct setns into the member's netns without its userns:"
nsenter -n -t $p1 true 2>&1 | head -1
echo "== from the host, joining the member's user namespace (owner chain: host uid owns the holder's userns)"
nsenter -U -t $p1 id
