#!/usr/bin/env bash
# Create the unprivileged usandbox test user (run as root; idempotent).
#
#   sudo bash hack/testuser.sh
#   USANDBOX_TEST_USER=alice sudo -E bash hack/testuser.sh
#
# Ensures: the user (home dir, /bin/bash), a 65536-wide subordinate id range
# in /etc/subuid and /etc/subgid (added only if the user has none),
# /run/user/UID (0700, owned by the user) for XDG_RUNTIME_DIR, and the host
# fix "chmod 0666 /dev/net/tun" so rootless networking can open TUN.
# Prints one summary line to stderr; a second run changes nothing.
set -euo pipefail

log() { echo "testuser.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root"

TEST_USER=${USANDBOX_TEST_USER:-usandbox-test}
SUB_COUNT=65536
SUB_MIN=100000

# The user: home dir and bash shell. useradd may allocate subordinate ids
# itself (login.defs SUB_UID_COUNT); the check below then finds them.
if ! getent passwd "$TEST_USER" >/dev/null; then
	useradd --create-home --shell /bin/bash --user-group "$TEST_USER"
fi
uid=$(id -u "$TEST_USER")
gid=$(id -g "$TEST_USER")
home=$(getent passwd "$TEST_USER" | cut -d: -f6)
shell=$(getent passwd "$TEST_USER" | cut -d: -f7)
[[ $shell == /bin/bash ]] || usermod --shell /bin/bash "$TEST_USER"
if [[ ! -d $home ]]; then
	install -d -m 0750 -o "$uid" -g "$gid" "$home"
fi

# has_range FILE: does FILE have a line for the user (by name or uid)?
has_range() {
	awk -F: -v n="$TEST_USER" -v u="$uid" '$1 == n || $1 == u { f = 1 } END { exit !f }' "$1"
}

# First free start: max(start+count) over both files, at least SUB_MIN, so
# the new range overlaps nothing and is the same in subuid and subgid.
touch /etc/subuid /etc/subgid
start=$(awk -F: -v m="$SUB_MIN" '
	NF >= 3 && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ && $2 + $3 > m { m = $2 + $3 }
	END { print m }' /etc/subuid /etc/subgid)
for f in /etc/subuid /etc/subgid; do
	has_range "$f" || echo "$TEST_USER:$start:$SUB_COUNT" >>"$f"
done

# A second local user, for attacks one user makes on another (a run root
# pre-created in /tmp). It needs no subordinate ids and no login.
TEST_USER2=${USANDBOX_TEST_USER2:-usandbox-test2}
if ! getent passwd "$TEST_USER2" >/dev/null; then
	useradd --create-home --shell /bin/bash --user-group "$TEST_USER2"
fi

# XDG_RUNTIME_DIR (no systemd-logind here to create it).
install -d -m 0700 -o "$uid" -g "$gid" "/run/user/$uid"

# Host fix: let unprivileged users open /dev/net/tun.
tun=absent
if [[ -c /dev/net/tun ]]; then
	[[ $(stat -c %a /dev/net/tun) == 666 ]] || chmod 0666 /dev/net/tun
	tun=0666
fi

range() { awk -F: -v n="$TEST_USER" -v u="$uid" '$1 == n || $1 == u { print $2 ":" $3; exit }' "$1"; }
log "user $TEST_USER2 uid=$(id -u "$TEST_USER2") (second user, no subuid range)"
log "user $TEST_USER uid=$uid gid=$gid home=$home subuid=$(range /etc/subuid) subgid=$(range /etc/subgid) XDG_RUNTIME_DIR=/run/user/$uid /dev/net/tun=$tun"
