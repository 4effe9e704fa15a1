#!/usr/bin/env bash
# The main job, offline, on a fresh Debian 12: set the machine up, build an
# image, and run sandboxes from it as an unprivileged user.
#
#   sudo make demo     (as root: installs from apt, creates the test user)
#   make demo          (as a user with a subuid range, images already built)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${USANDBOX_TEST_CACHE:-/var/cache/usandbox-test}
TEST_USER=${USANDBOX_TEST_USER:-usandbox-test}

say() { printf '\n\033[1m$ %s\033[0m\n' "$*" >&2; }

demo() {
	local u=$1
	say "$u pull oci-archive:$CACHE/images/busybox.tar"
	"$u" pull "oci-archive:$CACHE/images/busybox.tar"
	say "$u pull oci:$CACHE/images/debian:bookworm"
	"$u" pull -q "oci:$CACHE/images/debian:bookworm"
	say "$u images"
	"$u" images
	say "$u run --rm busybox sh -c 'echo hello from \$(hostname); id; cat /proc/self/uid_map'"
	"$u" run --rm busybox sh -c 'echo hello from $(hostname); id; cat /proc/self/uid_map'
	say "$u run --rm debian:bookworm bash -c 'head -1 /etc/os-release; su -s /bin/sh nobody -c id'"
	"$u" run --rm debian:bookworm bash -c 'head -1 /etc/os-release; su -s /bin/sh nobody -c id'
	say "$u run --rm busybox sh -c 'exit 42'; echo \$?"
	set +e
	"$u" run --rm busybox sh -c 'exit 42'
	echo "exit status $?"
	set -e
	say "$u run -d --name web -p 80 busybox sh -c 'echo served from a sandbox > /tmp/index.html; exec httpd -f -p 80 -h /tmp'"
	"$u" rm -f web >/dev/null 2>&1 || true
	"$u" run -d --name web -p 80 busybox sh -c 'echo served from a sandbox > /tmp/index.html; exec httpd -f -p 80 -h /tmp'
	sleep 0.5
	local hostport
	hostport=$("$u" port web | sed 's/.*://')
	say "$u port web; curl http://127.0.0.1:$hostport/; $u ps; $u exec web hostname; $u rm -f web"
	"$u" port web
	curl -s "http://127.0.0.1:$hostport/" || true
	"$u" ps
	"$u" exec web hostname
	"$u" rm -f web
	say "$u network create demo; $u run -d --name db --network demo --network-alias database busybox httpd -f -p 8080 -h /etc; $u run --rm --network demo busybox wget -q -O- http://database:8080/hostname; $u rm -f db; $u network rm demo"
	"$u" rm -f db >/dev/null 2>&1 || true
	"$u" network rm -f demo >/dev/null 2>&1 || true
	"$u" network create demo
	"$u" run -d --name db --network demo --network-alias database busybox httpd -f -p 8080 -h /etc >/dev/null
	sleep 0.3
	"$u" run --rm --network demo busybox wget -q -O- http://database:8080/hostname
	"$u" rm -f db >/dev/null
	"$u" network rm demo
	say "$u doctor"
	"$u" doctor || true
}

if [[ $(id -u) -eq 0 ]]; then
	bash "$repo/hack/deps.sh"
	make -C "$repo" build >/dev/null
	bash "$repo/hack/testuser.sh"
	bash "$repo/hack/images.sh"
	stage=$(mktemp -d /tmp/usandbox-demo.XXXXXX)
	trap 'rm -rf "$stage"' EXIT
	cp "$repo/bin/usandbox" "$repo/bin/usandbox-init" "$repo/bin/usandbox-image" "$stage/"
	chmod -R a+rX "$stage"
	uid=$(id -u "$TEST_USER")
	home=$(getent passwd "$TEST_USER" | cut -d: -f6)
	echo "demo: running as $TEST_USER (uid $uid), store in $home/.local/share/usandbox" >&2
	runuser -u "$TEST_USER" -- env -i HOME="$home" USER="$TEST_USER" PATH=/usr/bin:/bin:/usr/sbin:/sbin \
		XDG_RUNTIME_DIR="/run/user/$uid" TERM="${TERM:-dumb}" \
		bash -c "cd; $(declare -f say demo); CACHE=$CACHE; demo $stage/usandbox"
else
	[[ -d $CACHE/images/busybox ]] || { echo "demo: no test images in $CACHE: run sudo bash hack/images.sh first" >&2; exit 1; }
	make -C "$repo" build >/dev/null
	demo "$repo/bin/usandbox"
fi
