# Shared helpers for the netspike experiments. Run as the unprivileged user.
# NSMK: the helper built from nsmk.c (gcc -O2 -o /tmp/nsmk nsmk.c).
NSMK=${NSMK:-/tmp/nsmk}
D=${D:-/tmp/netspike-$(id -u)}
mkdir -p "$D"

# waitfile F: wait up to 5 s for F to be non-empty.
waitfile() { local i; for i in $(seq 500); do [ -s "$1" ] && return 0; sleep 0.01; done; return 1; }

# holder NAME SUBNET_PREFIX: a network user namespace (subuid map through
# newuidmap) with its own netns, a bridge br0 and the gateway .1; prints
# nothing, leaves $D/NAME.pid (the holder's pid, in its namespaces).
holder() {
	local name=$1 pfx=$2
	rm -f "$D/$name.pid"
	setsid "$NSMK" -H -- sh -c "
		ip link set lo up &&
		ip link add br0 type bridge &&
		ip addr add $pfx.1/24 dev br0 &&
		ip link set br0 up &&
		echo \$\$ > $D/$name.pid && exec sleep infinity" </dev/null >"$D/$name.log" 2>&1 &
	waitfile "$D/$name.pid" || { cat "$D/$name.log"; return 1; }
}

# member NAME HOLDER: a sandbox stand-in whose user namespace is a child of
# the holder's (identity map written by nsmk from inside the holder's user
# namespace), with its own netns; leaves $D/NAME.pid.
member() {
	local name=$1 h; h=$(cat "$D/$2.pid")
	rm -f "$D/$name.pid"
	setsid nsenter -U -t "$h" -- "$NSMK" -- sh -c "
		ip link set lo up && echo \$\$ > $D/$name.pid && exec sleep infinity" </dev/null >"$D/$name.log" 2>&1 &
	waitfile "$D/$name.pid" || { cat "$D/$name.log"; return 1; }
}

# attach MEMBER HOLDER IP [MTU]: a veth pair, one end on the holder's
# bridge, the other moved into the member's netns as eth0 and configured
# there. Run by a process in the holder's user+net namespace (nsenter).
attach() {
	local m; m=$(cat "$D/$1.pid"); local h; h=$(cat "$D/$2.pid") ip=$3 mtu=${4:-1500}
	local gw=${ip%.*}.1
	nsenter -U -n -t "$h" --preserve-credentials -- sh -c "
		ip link add v-$1 mtu $mtu type veth peer name eth0 mtu $mtu netns $m &&
		ip link set v-$1 master br0 up" &&
	nsenter -U -n -t "$m" --preserve-credentials -- sh -c "
		ip addr add $ip/24 dev eth0 && ip link set eth0 up && ip route add default via $gw"
}

# inns NAME CMD...: run CMD in NAME's user and net namespaces.
inns() { local p; p=$(cat "$D/$1.pid"); shift; nsenter -U -n -t "$p" --preserve-credentials -- "$@"; }

cleanup() {
	for f in "$D"/*.pid; do [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null; rm -f "$f"; done
	return 0
}
