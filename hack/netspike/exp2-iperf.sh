#!/bin/bash
# Experiment 2: member -> member TCP throughput over veth+bridge (MTU 1500
# and 65520) against host loopback, interleaved, iperf3 -t $T, $N rounds.
set -u
. "$(dirname "$0")/lib.sh"
T=${T:-5}; N=${N:-3}
trap 'kill $hs 2>/dev/null; cleanup' EXIT
holder net1 10.89.0
member a net1; member b net1; member c net1; member d net1
attach a net1 10.89.0.2 1500; attach b net1 10.89.0.3 1500
attach c net1 10.89.0.4 65520; attach d net1 10.89.0.5 65520
inns b iperf3 -s -D -1 >/dev/null 2>&1 || true
iperf3 -s -p 5299 >/dev/null 2>&1 & hs=$!
rate() { python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'; }
sleep 0.5
for i in $(seq $N); do
	inns b sh -c 'iperf3 -s -D -1' >/dev/null 2>&1; sleep 0.2
	m1=$(inns a iperf3 -J -t $T -c 10.89.0.3 | rate)
	inns d sh -c 'iperf3 -s -D -1' >/dev/null 2>&1; sleep 0.2
	m2=$(inns c iperf3 -J -t $T -c 10.89.0.5 | rate)
	lo=$(iperf3 -J -t $T -p 5299 -c 127.0.0.1 | rate)
	echo "round $i: member->member mtu1500 $m1 Gbit/s, mtu65520 $m2 Gbit/s, host loopback $lo Gbit/s"
done
