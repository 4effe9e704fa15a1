#!/usr/bin/env bash
# Run opencontainers/runtime-tools' validation suite against OCI runtimes
# side by side, as root and as the unprivileged test user (make test-oci).
#
#   sudo bash hack/test-oci.sh
#   sudo RUNTIMES="runc=/usr/sbin/runc" MODES=rootless RUN='^linux_ns' bash hack/test-oci.sh
#
# RUNTIMES  "name=path ...", the first is the reference
#           (default: runc=/usr/sbin/runc usandbox-runc=<repo>/bin/usandbox-runc;
#           a runtime whose binary does not exist is skipped with a line saying so)
# MODES     root and/or rootless (default: both)
# RUN       only the programs whose name matches this regular expression
# TIMEOUT   per-program timeout (default 120s; the program's process group is killed)
# OCI_LOGS  where each program's TAP and stderr go (default <repo>/_out/test-oci)
# KNOWN     the known gaps: "MODE PROGRAM REASON" lines of programs runc passes
#           and usandbox-runc knowingly does not (default hack/ocisuite/known-gaps);
#           they are reported, and do not fail the run
#
# The suite is runtime-tools at RT_VERSION from the Go module proxy, copied
# out of the module cache and built once (runtimetest and the 58
# validation/*/*.t) into $USANDBOX_TEST_CACHE/runtime-tools/RT_VERSION;
# its programs run from that tree's root with RUNTIME=<runtime> (mode
# root). Mode rootless runs them as the test user (hack/testuser.sh), from
# the user's own copy of the tree, with XDG_RUNTIME_DIR=/run/user/UID and
# RUNTIME=hack/ocisuite/rootless-runtime.sh, which adds a user namespace to
# each bundle's config.json and execs the runtime (see its header).
# hack/ocisuite reads the TAP and prints the table; this exits with its
# status: 1 when a runtime fails a program the reference passes.
set -euo pipefail

log() { echo "test-oci.sh: $*" >&2; }
die() { log "error: $*"; exit 2; }

[[ $(id -u) -eq 0 ]] || die "must run as root (mode root runs as root; mode rootless switches to the test user)"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${USANDBOX_TEST_CACHE:-/var/cache/usandbox-test}
TEST_USER=${USANDBOX_TEST_USER:-usandbox-test}
RT_MODULE=github.com/opencontainers/runtime-tools
# Vendors runtime-spec v1.3.0; older pseudo-versions do not build with it.
RT_VERSION=v0.9.1-0.20251205004911-5e639034dcdc
RUNTIMES=${RUNTIMES:-runc=/usr/sbin/runc usandbox-runc=$repo/bin/usandbox-runc}
MODES=${MODES:-root rootless}
OCI_LOGS=${OCI_LOGS:-$repo/_out/test-oci}

for c in go jq tar unshare newuidmap; do
	command -v "$c" >/dev/null || die "$c is missing (bash hack/deps.sh installs it)"
done

# Several people share this machine, and the suite's programs use fixed
# cgroup names (cgrouptest): one run at a time.
exec 9>/tmp/usandbox-test-oci.lock
flock 9

tree=$CACHE/runtime-tools/$RT_VERSION
# build_suite: copy runtime-tools out of the (read-only) module cache and
# build runtimetest (static: it runs inside the containers' busybox rootfs)
# and every validation program as validation/NAME/NAME.t, as its Makefile
# would. The module's vendor/ holds only modules.txt, so -mod=mod.
build_suite() {
	local src tmp bins f n
	src=$(cd /tmp && GOFLAGS= go mod download -json "$RT_MODULE@$RT_VERSION" | jq -r .Dir)
	[[ -f $src/rootfs-amd64.tar.gz ]] || die "$RT_MODULE@$RT_VERSION: no rootfs-amd64.tar.gz in $src"
	tmp=$(mktemp -d "$CACHE/runtime-tools/.build.XXXXXX")
	cp -r "$src/." "$tmp/"
	chmod -R u+w "$tmp"
	bins=$(mktemp -d)
	(
		cd "$tmp"
		export GOFLAGS="-mod=mod -buildvcs=false"
		CGO_ENABLED=0 go build -tags "netgo osusergo" -o runtimetest ./cmd/runtimetest
		go build -o "$bins/" ./validation/...
	)
	for f in "$bins"/*; do
		n=$(basename "$f")
		[[ -f $tmp/validation/$n/$n.go ]] || die "built $n, which is no validation/$n/$n.go"
		mv "$f" "$tmp/validation/$n/$n.t"
	done
	rm -rf "$bins"
	touch "$tmp/.built"
	rm -rf "$tree"
	mv "$tmp" "$tree"
}
mkdir -p "$CACHE/runtime-tools"
if [[ ! -f $tree/.built ]]; then
	log "building runtime-tools $RT_VERSION in $tree"
	start=$SECONDS
	build_suite
	log "built $(ls "$tree"/validation/*/*.t | wc -l) validation programs in $((SECONDS - start))s"
fi

args=(-suite "$tree" -logs "$OCI_LOGS" -runtimes "$RUNTIMES" -modes "$MODES" -timeout "${TIMEOUT:-120s}")
[[ -n ${RUN:-} ]] && args+=(-run "$RUN")
# What usandbox-runc knowingly does not pass that runc does, and why.
KNOWN=${KNOWN:-$repo/hack/ocisuite/known-gaps}
[[ -f $KNOWN ]] && args+=(-known "$KNOWN")

if [[ " $MODES " == *" rootless "* ]]; then
	bash "$repo/hack/testuser.sh"
	uid=$(id -u "$TEST_USER")
	# The test user's own copy of the tree (the programs write nothing
	# there, but run from it as their cwd), with the wrapper inside it so
	# that it is readable wherever the checkout sits.
	utree=$CACHE/runtime-tools/$RT_VERSION-$TEST_USER
	if [[ ! -f $utree/.built || $utree/.built -ot $tree/.built ]]; then
		rm -rf "$utree"
		cp -a "$tree" "$utree"
	fi
	install -m 0755 "$repo/hack/ocisuite/rootless-runtime.sh" "$utree/rootless-runtime.sh"
	chown -R "$TEST_USER:" "$utree"
	for rt in $RUNTIMES; do
		p=${rt#*=}
		if [[ -e $p ]] && ! runuser -u "$TEST_USER" -- test -x "$p"; then
			log "warning: $TEST_USER cannot execute $p (mode rootless fails for it; is the checkout somewhere only root can enter?)"
		fi
	done
	install -d -m 0700 -o "$uid" -g "$(id -g "$TEST_USER")" "/run/user/$uid"
	args+=(-user-suite "$utree" -user "$TEST_USER" -wrapper "$utree/rootless-runtime.sh")
fi

(cd "$repo" && go build -o bin/ocisuite ./hack/ocisuite)
set +e
"$repo/bin/ocisuite" "${args[@]}"
rc=$?
set -e
exit "$rc"
