#!/bin/bash
# Experiment 6: the network's resolver forwards to a resolver on the host
# (what the integration test would start: unprivileged, so on a high port
# of 127.0.0.1), reached through slirp4netns's host loopback 10.0.2.2.
set -u
. "$(dirname "$0")/lib.sh"
NS=${NETSPIKE:-/tmp/netspike}
trap 'kill $slirp $dnsd $hostd 2>/dev/null; cleanup' EXIT
holder net1 10.89.0; member m1 net1; attach m1 net1 10.89.0.2 65520
h=$(cat $D/net1.pid)
slirp4netns --configure --mtu=65520 --userns-path=/proc/$h/ns/user --netns-type=path /proc/$h/ns/net tap0 >$D/slirp.log 2>&1 & slirp=$!
for i in $(seq 100); do inns net1 ip -4 addr show tap0 2>/dev/null | grep -q inet && break; sleep 0.02; done
inns net1 sh -c 'sysctl -qw net.ipv4.ip_forward=1; nft add table ip u; nft "add chain ip u post { type nat hook postrouting priority srcnat; }"; nft add rule ip u post ip saddr 10.89.0.0/24 oifname tap0 masquerade'
echo 'hostonly.test 192.0.2.99' > $D/hostzone
$NS dns 127.0.0.1:5353 $D/hostzone 127.0.0.1:1 >$D/hostdns.log 2>&1 & hostd=$!
echo 'm1 10.89.0.2' > $D/members
nsenter -U -n -t $h --preserve-credentials -- $NS dns 10.89.0.1:53 $D/members 10.0.2.2:5353 >$D/dns.log 2>&1 & dnsd=$!
sleep 0.5
inns m1 $NS lookup 10.89.0.1 m1 200
inns m1 $NS lookup 10.89.0.1 hostonly.test 200
echo "-- getaddrinfo (glibc) in the member, /etc/resolv.conf bind-mounted to 'nameserver 10.89.0.1' in a mount ns of its own"
echo 'nameserver 10.89.0.1' > $D/resolv.conf
inns m1 unshare -m sh -c "mount --bind $D/resolv.conf /etc/resolv.conf && python3 -c '
import socket,time,statistics
for n in (\"m1\",\"hostonly.test\"):
    ts=[]
    for i in range(200):
        t=time.perf_counter(); ip=socket.gethostbyname(n); ts.append((time.perf_counter()-t)*1e3)
    print(n, ip, \"getaddrinfo median %.3f ms\" % statistics.median(ts))
'"
