#!/bin/bash
# Experiment 10: joining and leaving without a daemon. One flock per network
# ($D/NET.lock) serializes: holder alive? (else create it), pick an address
# (the lowest not held by a LIVE member: records of dead ones are ignored),
# attach, record "name ip pid". A watcher standing in for the holder's Go
# loop polls the members' pidfds; when one exits it takes the lock, drops
# the record and, if no live member is left, ends the holder and removes
# the network's state, still under the lock.
# Cases: 6 joins at once; a join killed -9 while it holds the lock; a
# member killed -9; the last member leaving.
set -u
. "$(dirname "$0")/lib.sh"
trap 'kill $watch 2>/dev/null; cleanup' EXIT
NET=net1; L=$D/$NET.lock; M=$D/$NET.members; : > $M
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
join() { # NAME [PAUSE]: the part of `run` that joins
	local name=$1 pause=${2:-0}
	exec 8>>$L; flock 8
	# 8>&-: the holder and the member must not inherit the lock (flock is per open file)
	if ! alive "$(cat $D/$NET.pid 2>/dev/null)"; then holder $NET 10.89.0 8>&- && echo "$name: created the holder"; fi
	sleep "$pause"   # a run killed here holds the lock: flock frees it with the process
	local n ip
	for n in $(seq 2 254); do
		ip=10.89.0.$n
		awk -v ip=$ip '$2==ip {print $3}' $M | while read p; do alive $p && echo used; done | grep -q used || break
	done
	member $name $NET 8>&- && attach $name $NET $ip && echo "$name $ip $(cat $D/$name.pid)" >> $M
	exec 8>&-
}
python3 - "$D" "$NET" <<'PY' > $D/watch.log 2>&1 &
# the holder's member watch, in Python for the spike (the real one is Go)
import os, sys, select, fcntl, time, signal
d, net = sys.argv[1], sys.argv[2]
M, L = f"{d}/{net}.members", f"{d}/{net}.lock"
fds = {}
while True:
	for line in open(M).read().split("\n"):
		f = line.split()
		if len(f) == 3 and int(f[2]) not in fds.values():
			try: fds[os.pidfd_open(int(f[2]))] = int(f[2])
			except ProcessLookupError: pass
	p = select.poll()
	for fd in fds: p.register(fd, select.POLLIN)
	ev = p.poll(50)
	for fd, _ in ev:
		t0 = time.monotonic(); pid = fds.pop(fd); os.close(fd)
		with open(L, "a") as lk:
			fcntl.flock(lk, fcntl.LOCK_EX)
			keep = [l for l in open(M).read().split("\n") if len(l.split()) == 3 and int(l.split()[2]) != pid]
			open(M + ".new", "w").write("".join(k + "\n" for k in keep)); os.rename(M + ".new", M)
			print(f"member pid {pid} gone: record dropped ({(time.monotonic()-t0)*1e3:.2f} ms under the lock), {len(keep)} left", flush=True)
			if not keep:
				h = int(open(f"{d}/{net}.pid").read()); os.kill(h, signal.SIGKILL); os.remove(f"{d}/{net}.pid")
				print("last member gone: holder killed, state removed", flush=True)
PY
watch=$!
echo "== 6 joins at once"
for i in 1 2 3 4 5 6; do join c$i & done; wait %2 %3 %4 %5 %6 %7 2>/dev/null; sleep 0.2
sort -k2 -V $M; echo "distinct addresses: $(awk '{print $2}' $M | sort -u | wc -l) of $(wc -l < $M)"; echo "holders: $(ls $D/$NET.pid | wc -l)"
echo "== c3 -> c6 by IP"; inns c3 busybox ping -c1 -W1 $(awk '$1=="c6"{print $2}' $M) | grep -o '1 packets received'
echo "== a join killed -9 while it holds the lock, then another join"
join k1 5 & j=$!; sleep 0.3; pkill -9 -P $j 2>/dev/null; kill -9 $j; t0=$(date +%s%N)
join c7; echo "c7 joined $(( ($(date +%s%N)-t0)/1000000 )) ms after the kill: $(grep c7 $M)"
echo "== kill -9 of member c2 (its address is free again)"
kill -9 $(cat $D/c2.pid); rm $D/c2.pid; sleep 0.3; join c8; grep -E 'c8' $M
echo "== all members leave"
for f in $D/c*.pid; do kill -9 $(cat $f); rm $f; done; sleep 0.5
cat $D/watch.log; ls $D/$NET.pid 2>/dev/null || echo "no holder pid file; holder process: $(pgrep -f "sleep infinity" -u $(id -u) -c) 'sleep infinity' of ours left (incl. other experiments)"
