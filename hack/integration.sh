#!/usr/bin/env bash
# Run the integration tests as an unprivileged user with a subuid range.
#
#   sudo bash hack/integration.sh [-test.run REGEX]   # as root: set up, then run as the test user
#   bash hack/integration.sh                           # as a user with a subuid range: run as yourself
#   sudo USANDBOX_OCI_RUNTIME=/usr/sbin/runc bash hack/integration.sh -test.run TestOCI
#                                                      # the TestOCI tests with another runtime than bin/usandbox-runc
#
# Expects bin/usandbox, bin/integration.test and bin/tc.test (make build-tests). As root
# it creates the test user and the test images first (both idempotent) and
# copies the binaries and hack/ where the test user can read them, since
# the checkout may sit in a directory only root can enter.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${USANDBOX_TEST_CACHE:-/var/cache/usandbox-test}
TEST_USER=${USANDBOX_TEST_USER:-usandbox-test}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

summarize() {
	local pass fail skip
	pass=$(grep -c -- '^\s*--- PASS' "$log" || true)
	fail=$(grep -c -- '^\s*--- FAIL' "$log" || true)
	skip=$(grep -c -- '^\s*--- SKIP' "$log" || true)
	echo "integration: $pass passed, $fail failed, $skip skipped"
}

# start_dns: a local resolver for TestNetworkDNS that knows one name only,
# usandbox-test.internal (192.0.2.53), on the first free address of
# 127.0.0.2-9 port 53 (a sandbox's resolv.conf has no port, and only root
# may bind 53). Sets dns_ip and dns_pid; leaves dns_ip empty (the test then
# skips) if dnsmasq is missing or no address works.
start_dns() {
	dns_ip=
	command -v dnsmasq >/dev/null || { echo "integration.sh: dnsmasq missing (apt-get install dnsmasq-base): TestNetworkDNS skips its lookup" >&2; return 0; }
	local a ip
	for a in 2 3 4 5 6 7 8 9; do
		ip=127.0.0.$a
		dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file="$stage/dnsmasq.pid" \
			--user=nobody --group=nogroup --no-resolv --no-hosts --no-poll --bind-interfaces \
			--listen-address="$ip" --port=53 --address=/usandbox-test.internal/192.0.2.53 \
			>"$stage/dnsmasq.log" 2>&1 &
		dns_pid=$!
		for _ in $(seq 50); do
			# Ours listening, not another run's dnsmasq on that address
			# (ours then fails to bind and exits: the next one is tried).
			ss -Hlnup "src = $ip:53" 2>/dev/null | grep -q "pid=$dns_pid," && { dns_ip=$ip; return 0; }
			kill -0 "$dns_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$dns_pid" 2>/dev/null || true
		wait "$dns_pid" 2>/dev/null || true
		dns_pid=
	done
	echo "integration.sh: dnsmasq did not start on 127.0.0.2-9:53: TestNetworkDNS skips its lookup" >&2
	cat "$stage/dnsmasq.log" >&2
}

# foreign_socket: a second local user cannot connect to the test user's
# system service socket (its default place, $XDG_RUNTIME_DIR/usandbox),
# while the test user can. Root only (it acts as both users); its result
# is a PASS or FAIL line of the log, as the Go tests' are.
foreign_socket() {
	local dir sock pid ok=1 i
	dir=$(runuser -u "$TEST_USER" -- mktemp -d /tmp/usandbox-it-sock.XXXXXX)
	sock=/run/user/$uid/usandbox/usandbox.sock
	runuser -u "$TEST_USER" -- env XDG_RUNTIME_DIR="/run/user/$uid" \
		"$stage/usandbox" --root "$dir/root" --runroot "$dir/run" system service --time 20 2>"$dir/err" &
	pid=$!
	for ((i = 0; i < 100; i++)); do [[ -S $sock ]] && break; sleep 0.05; done
	if ! runuser -u "$TEST_USER" -- curl -s --max-time 5 --unix-socket "$sock" http://d/_ping | grep -qx OK; then
		echo "foreign_socket: the test user's own service did not answer: $(cat "$dir/err")"
		ok=0
	elif runuser -u "$user2" -- curl -s --max-time 5 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
		echo "foreign_socket: $user2 connected to $TEST_USER's socket $sock"
		ok=0
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -rf "$dir"
	if ((ok)); then
		echo "--- PASS: ForeignSocket ($user2 cannot connect to $TEST_USER's system service)"
	else
		echo "--- FAIL: ForeignSocket"
	fi
}

if [[ $(id -u) -eq 0 ]]; then
	bash "$repo/hack/testuser.sh"
	bash "$repo/hack/images.sh"
	uid=$(id -u "$TEST_USER")
	home=$(getent passwd "$TEST_USER" | cut -d: -f6)
	stage=$(mktemp -d /tmp/usandbox-it.XXXXXX)
	dns_pid=
	# Run roots a second local user planted in a /tmp-like (sticky, 1777)
	# directory before the test user came: each subdirectory is one TMPDIR
	# holding a hostile usandbox-run-UID (TestEscapeRunRoot*).
	user2=${USANDBOX_TEST_USER2:-usandbox-test2}
	foreign=$(mktemp -d /tmp/usandbox-it-foreign-XXXXXX)
	trap '[[ -z $dns_pid ]] || kill "$dns_pid" 2>/dev/null; rm -rf "$stage" "$log" "$foreign"' EXIT
	start_dns
	chmod 0755 "$foreign"
	for v in other other-open symlink open-mode; do install -d -m 1777 "$foreign/$v"; done
	install -d -m 0700 -o "$user2" -g "$user2" "$foreign/other/usandbox-run-$uid"
	install -d -m 0777 -o "$user2" -g "$user2" "$foreign/other-open/usandbox-run-$uid"
	install -d -m 0700 -o "$TEST_USER" -g "$TEST_USER" "$foreign/symlink-target"
	runuser -u "$user2" -- ln -s "$foreign/symlink-target" "$foreign/symlink/usandbox-run-$uid"
	install -d -m 0700 -o "$TEST_USER" -g "$TEST_USER" "$foreign/open-mode/usandbox-run-$uid"
	chmod 0777 "$foreign/open-mode/usandbox-run-$uid"
	cp "$repo/bin/usandbox" "$repo/bin/usandbox-init" "$repo/bin/usandbox-image" "$repo/bin/mkimage" "$repo/bin/attack" "$repo/bin/integration.test" "$repo/bin/tc.test" "$stage/"
	# The OCI runtime the TestOCI tests hand to podman and containerd
	# (USANDBOX_OCI_RUNTIME, e.g. /usr/sbin/runc, overrides it).
	runc=
	if [[ -x $repo/bin/usandbox-runc ]]; then
		cp "$repo/bin/usandbox-runc" "$stage/"
		runc=$stage/usandbox-runc
	fi
	cp -r "$repo/hack" "$stage/hack"
	chmod -R a+rX "$stage"
	chown -R "$TEST_USER:" "$stage"
	set +e
	runuser -u "$TEST_USER" -- env -i \
		HOME="$home" USER="$TEST_USER" LOGNAME="$TEST_USER" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
		XDG_RUNTIME_DIR="/run/user/$uid" TMPDIR=/tmp USANDBOX_TEST_DNS="$dns_ip" \
		USANDBOX_BIN="$stage/usandbox" USANDBOX_MKIMAGE="$stage/mkimage" USANDBOX_HACK="$stage/hack" USANDBOX_TEST_CACHE="$CACHE" \
		USANDBOX_ATTACK="$stage/attack" USANDBOX_TEST_FOREIGN="$foreign" USANDBOX_TC_TEST="$stage/tc.test" \
		USANDBOX_RUNC="$runc" USANDBOX_OCI_RUNTIME="${USANDBOX_OCI_RUNTIME:-}" \
		bash -c 'cd "$HOME" && exec "$0" -test.v -test.timeout 25m "$@"' "$stage/integration.test" "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	foreign_socket | tee -a "$log"
	if grep -q -- '^--- FAIL: ForeignSocket' "$log"; then rc=1; fi
	set -e
else
	runc=
	[[ ! -x $repo/bin/usandbox-runc ]] || runc=$repo/bin/usandbox-runc
	set +e
	USANDBOX_BIN="$repo/bin/usandbox" USANDBOX_MKIMAGE="$repo/bin/mkimage" USANDBOX_HACK="$repo/hack" USANDBOX_TEST_CACHE="$CACHE" \
		USANDBOX_ATTACK="$repo/bin/attack" USANDBOX_TC_TEST="$repo/bin/tc.test" USANDBOX_RUNC="$runc" \
		"$repo/bin/integration.test" -test.v -test.timeout 25m "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
fi
summarize
exit "$rc"
