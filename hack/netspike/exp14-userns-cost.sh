#!/bin/bash
# Experiment 14: usernsbench (gcc -O2 -o /tmp/usernsbench usernsbench.c):
# making a member's user+net namespaces under the network's user namespace
# against today's newuidmap/newgidmap path, measured in C (no exec noise).
set -u
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
holder net1 10.89.0
/tmp/usernsbench $(cat $D/net1.pid) ${N:-200}
