#!/bin/bash
# Experiment 13: -p on a network member. rootlesskit v3's builtin port
# driver: parent on the host, child in the member's user+net namespaces
# (entered from the host through the member's user namespace, a child of
# the network's). Does the member's server see the client's address?
set -u
. "$(dirname "$0")/lib.sh"
NS=${NETSPIKE:-/tmp/netspike}
trap 'kill $srv $(pgrep -P $pp) $pp 2>/dev/null; cleanup' EXIT
holder net1 10.89.0; member m1 net1; attach m1 net1 10.89.0.2 65520
m1=$(cat $D/m1.pid)
nsenter -U -n -t $m1 --preserve-credentials -- python3 -c '
import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 8080)); s.listen()
while True:
    c, a = s.accept(); c.sendall(("member saw client %s\n" % a[0]).encode()); c.close()' &
srv=$!
rm -rf $D/ports; mkdir -p $D/ports; $NS ports $D/ports 18090 8080 $m1 >$D/ports.log 2>&1 & pp=$!
for i in $(seq 200); do grep -q published $D/ports.log && break; sleep 0.02; done; cat $D/ports.log
hostip=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
for a in 127.0.0.1 $hostip; do python3 -c "import socket,sys;s=socket.create_connection((sys.argv[1],18090),timeout=3);print('client ->',sys.argv[1]+':18090:',s.recv(100).decode().strip())" $a; done
echo "-- the member's nft rules left by the child:"; inns m1 nft list ruleset | head -20
