#!/bin/bash
# Experiment 9: what a sandbox's own user-mode network costs `run` today
# (landed main's bin/usandbox): --network none against the default
# slirp4netns, interleaved, median of N.
set -u
U=${USANDBOX:-/work/main/bin/usandbox}; N=${N:-10}
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
one() { local t0; t0=$(date +%s%N); "$U" run --rm "$@" busybox true >/dev/null 2>&1 || echo FAIL >&2; echo $(( ($(date +%s%N)-t0)/100000 )); }
rm -f /tmp/e9.none /tmp/e9.slirp /tmp/e9.pasta
for i in $(seq $N); do one --network none >>/tmp/e9.none; one >>/tmp/e9.slirp; one --network pasta >>/tmp/e9.pasta; done
for m in none slirp pasta; do echo "run --rm busybox true, network $m: median $(med </tmp/e9.$m | sed 's/.$/.&/') ms"; done
