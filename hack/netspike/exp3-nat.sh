#!/bin/bash
# Experiment 3: can the holder (root of the network user namespace) use
# nftables / iptables in the network's netns? Masquerade the bridge subnet
# to slirp4netns's tap, and reach a TCP server on the host from a member.
set -u
. "$(dirname "$0")/lib.sh"
trap 'kill $slirp $srv 2>/dev/null; cleanup' EXIT
holder net1 10.89.0
member m1 net1; attach m1 net1 10.89.0.2
h=$(cat $D/net1.pid)
echo "== tools inside the holder's user+net namespace"
inns net1 nft -v; inns net1 nft list ruleset && echo "nft list: ok"
inns net1 iptables -V; inns net1 iptables -t nat -L -n >/dev/null && echo "iptables(nft) nat: ok"
inns net1 iptables-legacy -t nat -L -n >/dev/null 2>&1 && echo "iptables-legacy nat: ok" || echo "iptables-legacy: fails"
echo "== slirp4netns on the holder's netns (tap0 10.0.2.100/24, host loopback allowed: 10.0.2.2 = host 127.0.0.1)"
rm -f $D/slirp.sock
slirp4netns --configure --mtu=65520 --api-socket $D/slirp.sock --userns-path=/proc/$h/ns/user --netns-type=path /proc/$h/ns/net tap0 >$D/slirp.log 2>&1 & slirp=$!
for i in $(seq 100); do inns net1 ip -4 addr show tap0 2>/dev/null | grep -q inet && break; sleep 0.02; done
inns net1 ip -4 -br addr; inns net1 ip route
inns net1 sysctl -w net.ipv4.ip_forward=1
echo "== host TCP server on 127.0.0.1:18080 and on the host's address"
hostip=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1); echo "host ip: $hostip"
python3 -m http.server --bind 0.0.0.0 18080 >/dev/null 2>&1 & srv=$!; sleep 0.5
echo "-- holder netns -> 10.0.2.2:18080"; inns net1 python3 -c 'import urllib.request as u;print(u.urlopen("http://10.0.2.2:18080/",timeout=3).status)'
echo "-- member -> 10.0.2.2:18080 WITHOUT NAT"; inns m1 python3 -c 'import urllib.request as u;print(u.urlopen("http://10.0.2.2:18080/",timeout=3).status)' 2>&1 | tail -1
echo "== masquerade 10.89.0.0/24 out of tap0 with nft"
inns net1 nft -f - <<'NFT' && echo "nft rules: loaded"
table ip usandbox {
	chain postrouting { type nat hook postrouting priority srcnat; ip saddr 10.89.0.0/24 oifname "tap0" masquerade; }
	chain forward { type filter hook forward priority filter; policy drop;
		iifname "br0" oifname "tap0" accept
		iifname "tap0" oifname "br0" ct state established,related accept
	}
}
NFT
echo "-- member -> 10.0.2.2:18080 (host loopback)"; inns m1 python3 -c 'import urllib.request as u;print(u.urlopen("http://10.0.2.2:18080/",timeout=3).status)'
echo "-- member -> $hostip:18080 (host address)"; inns m1 python3 -c "import urllib.request as u;print(u.urlopen('http://$hostip:18080/',timeout=3).status)"
echo "-- member -> DNS 10.0.2.3 (slirp's forwarder)"; inns m1 python3 -c '
import socket,struct
q=struct.pack(">HHHHHH",0x1234,0x0100,1,0,0,0)+b"\x09localhost\x00"+struct.pack(">HH",1,1)
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(3);s.sendto(q,("10.0.2.3",53));r=s.recv(512);print("dns answer bytes",len(r),"rcode",r[3]&15)'
inns net1 nft list ruleset | grep -c masquerade
