#!/bin/bash
# Experiment 4: what joining costs (netlink in the holder; userns creation
# under the holder against newuidmap), and the per-network resolver:
# lookup latency, registration through a members file, forwarding to
# slirp4netns's DNS. Needs /tmp/netspike (go build in proto/).
set -u
. "$(dirname "$0")/lib.sh"
NS=${NETSPIKE:-/tmp/netspike}
trap 'kill $slirp $dnsd 2>/dev/null; cleanup' EXIT
holder net1 10.89.0
member m1 net1; member m2 net1
attach m1 net1 10.89.0.2 65520; attach m2 net1 10.89.0.3 65520
h=$(cat $D/net1.pid); m1=$(cat $D/m1.pid)
ms() { python3 -c "import sys; print('%.2f ms' % ((int(sys.argv[2])-int(sys.argv[1]))/1e6/int(sys.argv[3])))" "$@"; }
N=30
echo "== user namespace creation, mean of $N (each includes fork+exec of nsmk)"
t0=$(date +%s%N); for i in $(seq $N); do $NSMK -H -- true; done; t1=$(date +%s%N)
echo "host-child userns via newuidmap+newgidmap (today's path): $(ms $t0 $t1 $N)"
t0=$(date +%s%N); for i in $(seq $N); do nsenter -U -t $h -- $NSMK -- true; done; t1=$(date +%s%N)
echo "nsenter holder userns + child userns, map written in-process: $(ms $t0 $t1 $N)"
t0=$(date +%s%N); for i in $(seq $N); do nsenter -U -t $h -- true; done; t1=$(date +%s%N)
echo "  of which nsenter alone: $(ms $t0 $t1 $N)"
echo "== attach, netlink in one process already in the holder's namespaces"
nsenter -U -n -t $h --preserve-credentials -- $NS attach /proc/$m1/ns/net 200
echo "== attach with ip(8), 2 nsenter + 4 ip execs (the shell prototype), mean of 10"
t0=$(date +%s%N); for i in $(seq 10); do
	nsenter -U -n -t $h --preserve-credentials -- sh -c "ip link add vy$i mtu 65520 type veth peer name eth9 netns $m1 && ip link set vy$i master br0 up" &&
	nsenter -U -n -t $m1 --preserve-credentials -- sh -c "ip addr add 10.89.0.201/24 dev eth9 && ip link set eth9 up"
	nsenter -U -n -t $h --preserve-credentials -- ip link del vy$i; done; t1=$(date +%s%N)
echo "ip(8) attach+detach: $(ms $t0 $t1 10)"
echo "== slirp4netns + masquerade for forwarding"
slirp4netns --configure --mtu=65520 --userns-path=/proc/$h/ns/user --netns-type=path /proc/$h/ns/net tap0 >$D/slirp.log 2>&1 & slirp=$!
for i in $(seq 100); do inns net1 ip -4 addr show tap0 2>/dev/null | grep -q inet && break; sleep 0.02; done
inns net1 sh -c 'sysctl -qw net.ipv4.ip_forward=1; nft add table ip u; nft "add chain ip u post { type nat hook postrouting priority srcnat; }"; nft add rule ip u post ip saddr 10.89.0.0/24 oifname tap0 masquerade'
echo "== resolver on 10.89.0.1 in the network's netns (run as the holder would)"
printf 'm1 10.89.0.2\nm2 10.89.0.3\ndb 10.89.0.3\n' > $D/members
nsenter -U -n -t $h --preserve-credentials -- $NS dns 10.89.0.1:53 $D/members 10.0.2.3:53 >$D/dns.log 2>&1 & dnsd=$!
sleep 0.5; cat $D/dns.log
inns m1 $NS lookup 10.89.0.1 db 2000
inns m1 $NS lookup 10.89.0.1 m2 2000
echo "-- forwarded (through 10.0.2.3 to the host's resolver)"
inns m1 $NS lookup 10.89.0.1 nonexistent.invalid 20
inns m1 $NS lookup 10.89.0.1 localhost 20
echo "-- unregister db (rewrite the members file), ask again"
printf 'm1 10.89.0.2\nm2 10.89.0.3\n' > $D/members.new && mv $D/members.new $D/members
inns m1 $NS lookup 10.89.0.1 db 1 || true
echo "-- baseline: same client against the host resolver ($(awk '/^nameserver/{print $2; exit}' /etc/resolv.conf)) from the host"
$NS lookup "$(awk '/^nameserver/{print $2; exit}' /etc/resolv.conf)" localhost 200 || true
echo "== RSS of the resolver process (kB):"; grep VmRSS /proc/$(pgrep -P $dnsd -n 2>/dev/null || echo $dnsd)/status 2>/dev/null || ps -o rss= -p $dnsd
