#!/bin/bash
# Experiment 7: what the FIRST member pays (holder + bridge, slirp4netns up,
# nft rules), slirp4netns's life when the holder dies (with and without
# --exit-fd), and nft inside a member's own netns (the port driver's child
# needs it to keep the client's source address).
set -u
. "$(dirname "$0")/lib.sh"
trap 'kill $slirp 2>/dev/null; cleanup' EXIT
now() { date +%s%N; }
t0=$(now); holder net1 10.89.0; t1=$(now)
h=$(cat $D/net1.pid)
mkfifo $D/exit.fifo
# the holder's end of the exit pipe: a process in the holder's namespaces holding the write side
nsenter -U -n -t $h --preserve-credentials -- sh -c "exec 9>$D/exit.fifo; echo \$\$ > $D/holder2.pid; exec sleep infinity" &
slirp4netns --configure --mtu=65520 --exit-fd=3 --ready-fd=4 --userns-path=/proc/$h/ns/user --netns-type=path /proc/$h/ns/net tap0 3<$D/exit.fifo 4>$D/ready >$D/slirp.log 2>&1 & slirp=$!
for i in $(seq 500); do [ -s $D/ready ] && break; sleep 0.002; done; t2=$(now)
inns net1 nft -f - <<'NFT'
table ip usandbox {
	chain postrouting { type nat hook postrouting priority srcnat; ip saddr 10.89.0.0/24 oifname "tap0" masquerade; }
	chain forward { type filter hook forward priority filter; policy drop;
		iifname "br0" oifname "tap0" accept
		iifname "tap0" oifname "br0" ct state established,related accept
		iifname "br0" oifname "br0" accept
	}
}
NFT
inns net1 sysctl -qw net.ipv4.ip_forward=1; t3=$(now)
echo "first member, shell prototype: holder+bridge $(( (t1-t0)/1000000 )) ms, slirp4netns ready $(( (t2-t1)/1000000 )) ms, nft+sysctl $(( (t3-t2)/1000000 )) ms"
echo "== nft in a member's own netns"
member m1 net1; attach m1 net1 10.89.0.2 65520
inns m1 nft add table ip t && inns m1 nft list tables && echo "nft in member netns: ok"
echo "== kill -9 of the holder processes: does slirp4netns go?"
tk=$(now); kill -9 $h $(cat $D/holder2.pid); rm -f $D/net1.pid $D/holder2.pid
for i in $(seq 100); do kill -0 $slirp 2>/dev/null || break; sleep 0.01; done
kill -0 $slirp 2>/dev/null && echo "slirp4netns still running after 1 s (bad)" || echo "slirp4netns exited ($(( ($(now)-tk)/1000000 )) ms after; --exit-fd EOF)"
echo "== without --exit-fd"
holder net2 10.89.1; h=$(cat $D/net2.pid)
slirp4netns --configure --mtu=65520 --userns-path=/proc/$h/ns/user --netns-type=path /proc/$h/ns/net tap0 >$D/slirp2.log 2>&1 & slirp=$!
sleep 0.5; kill -9 $h; rm -f $D/net2.pid; sleep 1
kill -0 $slirp 2>/dev/null && echo "without --exit-fd slirp4netns stays after its netns's holder is killed (it keeps the netns alive through its tap fd)" || echo "slirp4netns exited by itself"
