#!/bin/bash
# Experiment 12: slirp4netns started by the holder itself: a process in the
# store's user namespace but still in the HOST's network namespace (the
# holder needs no netns of its own), attaching to a network's netns by path,
# without --userns-path, with its sandbox and seccomp filter on.
set -u
. "$(dirname "$0")/lib.sh"
trap 'kill $slirp 2>/dev/null; cleanup' EXIT
holder net1 10.89.0; h=$(cat $D/net1.pid)
member m1 net1; attach m1 net1 10.89.0.2 65520
echo "holder-side process: userns $(readlink /proc/$h/ns/user), netns host $(readlink /proc/$$/ns/net)"
nsenter -U -t $h -- slirp4netns --configure --mtu=65520 --disable-host-loopback --enable-sandbox --enable-seccomp \
	--netns-type=path /proc/$h/ns/net tap0 >$D/slirp.log 2>&1 & slirp=$!
for i in $(seq 200); do inns net1 ip -4 addr show tap0 2>/dev/null | grep -q inet && break; sleep 0.01; done
inns net1 ip -4 -br addr show tap0 || { cat $D/slirp.log; exit 1; }
echo "slirp4netns runs in userns $(readlink /proc/$(pgrep -P $slirp -n || echo $slirp)/ns/user 2>/dev/null || echo '?')"
inns net1 sh -c 'sysctl -qw net.ipv4.ip_forward=1; nft add table ip u; nft "add chain ip u post { type nat hook postrouting priority srcnat; }"; nft add rule ip u post ip saddr 10.89.0.0/24 oifname tap0 masquerade'
python3 -m http.server --bind 0.0.0.0 18081 >/dev/null 2>&1 & srv=$!; sleep 0.4
hostip=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
inns m1 python3 -c "import urllib.request as u;print('member -> host $hostip:18081: HTTP', u.urlopen('http://$hostip:18081/',timeout=3).status)"
kill $srv
