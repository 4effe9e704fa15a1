#!/usr/bin/env bash
# Local throw-away OCI registry for usandbox tests (run as any user).
#
#   bash hack/registry.sh start   # start + push images; prints REGISTRY=127.0.0.1:PORT
#   bash hack/registry.sh env     # print the state file (KEY=VALUE lines)
#   bash hack/registry.sh stop    # kill it, delete its storage and state file
#   eval "$(bash hack/registry.sh env)"   # e.g. in a test wrapper
#
# start runs Debian's docker-registry (distribution v2) on a free port of
# 127.0.0.1 (plain HTTP) and pushes from $USANDBOX_TEST_CACHE/images (built
# by hack/images.sh):
#   busybox:latest, debian:bookworm, debian:latest
# start is idempotent: if the registry in the state file still answers,
# it just prints REGISTRY= again.
#
# State file: $USANDBOX_TEST_REGISTRY_STATE, default
# $XDG_RUNTIME_DIR/usandbox-test-registry.env (if XDG_RUNTIME_DIR is a
# writable dir) else /tmp/usandbox-test-registry-$UID.env. It holds:
#   REGISTRY=127.0.0.1:PORT
#   REGISTRY_PID=<docker-registry pid>
#   REGISTRY_DIR=<temp dir: config.yml, registry.log, storage/>
#   REGISTRY_STORAGE=$REGISTRY_DIR/storage
# Blob files (e.g. to corrupt one in a test) are at
#   $REGISTRY_STORAGE/docker/registry/v2/blobs/sha256/<first 2 hex>/<hex digest>/data
# and tags at .../v2/repositories/<name>/_manifests/tags/<tag>/current/link.
set -euo pipefail

log() { echo "registry.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

CACHE=${USANDBOX_TEST_CACHE:-/var/cache/usandbox-test}
if [[ -n ${USANDBOX_TEST_REGISTRY_STATE:-} ]]; then
	STATE=$USANDBOX_TEST_REGISTRY_STATE
elif [[ -n ${XDG_RUNTIME_DIR:-} && -d $XDG_RUNTIME_DIR && -w $XDG_RUNTIME_DIR ]]; then
	STATE=$XDG_RUNTIME_DIR/usandbox-test-registry.env
else
	STATE=/tmp/usandbox-test-registry-$(id -u).env
fi

# is_ours PID: is PID a running docker-registry owned by us?
is_ours() {
	[[ -n $1 && -r /proc/$1/comm && $(cat "/proc/$1/comm" 2>/dev/null) == docker-registry* ]] &&
		[[ $(stat -c %u "/proc/$1") == "$(id -u)" ]]
}

# load_state: read the state file into REGISTRY, REGISTRY_PID, REGISTRY_DIR.
load_state() {
	REGISTRY='' REGISTRY_PID='' REGISTRY_DIR=''
	[[ -f $STATE ]] || return 1
	local k v
	while IFS='=' read -r k v; do
		case $k in
		REGISTRY | REGISTRY_PID | REGISTRY_DIR) printf -v "$k" '%s' "$v" ;;
		esac
	done <"$STATE"
}

# answers ADDR: does the v2 API respond?
answers() { curl -sf -o /dev/null --max-time 2 "http://$1/v2/"; }

cmd_stop() {
	if ! load_state; then
		log "not running (no state file $STATE)"
		return 0
	fi
	if is_ours "$REGISTRY_PID"; then
		kill "$REGISTRY_PID" 2>/dev/null || true
		for _ in $(seq 50); do
			is_ours "$REGISTRY_PID" || break
			sleep 0.1
		done
		if is_ours "$REGISTRY_PID"; then kill -KILL "$REGISTRY_PID" 2>/dev/null || true; fi
	fi
	# Only ever delete a directory this script created.
	if [[ $REGISTRY_DIR == */usandbox-test-registry.* && -d $REGISTRY_DIR ]]; then
		rm -rf "$REGISTRY_DIR"
	fi
	rm -f "$STATE"
	log "stopped $REGISTRY (pid $REGISTRY_PID)"
}

cmd_env() {
	[[ -f $STATE ]] || die "not running (no state file $STATE)"
	cat "$STATE"
}

# push SRC_IMAGE DEST_REF: skopeo copy from the OCI layout cache.
push() {
	local src=$1 dst=$2
	if ! skopeo copy --quiet --dest-tls-verify=false "oci:$src" "docker://$REGISTRY/$dst" \
		>>"$REGISTRY_DIR/skopeo.log" 2>&1; then
		cat "$REGISTRY_DIR/skopeo.log" >&2
		die "skopeo copy oci:$src -> $REGISTRY/$dst failed"
	fi
}

cmd_start() {
	if load_state; then
		if is_ours "$REGISTRY_PID" && answers "$REGISTRY"; then
			log "already running at $REGISTRY (pid $REGISTRY_PID)"
			echo "REGISTRY=$REGISTRY"
			return 0
		fi
		log "removing stale state $STATE"
		cmd_stop 2>/dev/null
	fi
	command -v docker-registry >/dev/null || die "docker-registry missing (apt-get install docker-registry)"
	command -v skopeo >/dev/null || die "skopeo missing"
	local img
	for img in busybox debian; do
		[[ -f $CACHE/images/$img/index.json ]] || die "$CACHE/images/$img missing; run hack/images.sh as root"
	done

	REGISTRY_DIR=$(mktemp -d "${TMPDIR:-/tmp}/usandbox-test-registry.XXXXXX")
	# On any failure before the state file is written, clean up.
	trap 'is_ours "${REGISTRY_PID:-}" && kill "$REGISTRY_PID"; rm -rf "$REGISTRY_DIR"' EXIT
	mkdir "$REGISTRY_DIR/storage"

	local port ok=
	for _ in $(seq 10); do
		port=$((20000 + RANDOM % 40000))
		# Skip ports with a listener; the bind itself is the final check.
		[[ -z $(ss -Hltn "sport = :$port" 2>/dev/null) ]] || continue
		REGISTRY=127.0.0.1:$port
		cat >"$REGISTRY_DIR/config.yml" <<-EOF
			version: 0.1
			log:
			  level: error
			  accesslog:
			    disabled: true
			storage:
			  filesystem:
			    rootdirectory: $REGISTRY_DIR/storage
			  delete:
			    enabled: true
			http:
			  addr: $REGISTRY
			  secret: usandbox-test-$RANDOM$RANDOM
		EOF
		# New session: survives the calling shell (su -c, test harness).
		setsid docker-registry serve "$REGISTRY_DIR/config.yml" \
			</dev/null >>"$REGISTRY_DIR/registry.log" 2>&1 &
		REGISTRY_PID=$!
		for _ in $(seq 100); do # up to 10 s
			if answers "$REGISTRY"; then
				ok=1
				break
			fi
			kill -0 "$REGISTRY_PID" 2>/dev/null || break
			sleep 0.1
		done
		[[ -n $ok ]] && break
		kill "$REGISTRY_PID" 2>/dev/null || true
		wait "$REGISTRY_PID" 2>/dev/null || true
		# Port taken between the check and the bind: try another one.
		grep -q 'address already in use' "$REGISTRY_DIR/registry.log" 2>/dev/null && continue
		cat "$REGISTRY_DIR/registry.log" >&2
		die "docker-registry did not answer on $REGISTRY within 10s"
	done
	[[ -n $ok ]] || die "no free port found"

	push "$CACHE/images/busybox:latest" busybox:latest
	push "$CACHE/images/debian:bookworm" debian:bookworm
	push "$CACHE/images/debian:bookworm" debian:latest

	umask 077
	printf 'REGISTRY=%s\nREGISTRY_PID=%s\nREGISTRY_DIR=%s\nREGISTRY_STORAGE=%s\n' \
		"$REGISTRY" "$REGISTRY_PID" "$REGISTRY_DIR" "$REGISTRY_DIR/storage" >"$STATE.tmp"
	mv -f "$STATE.tmp" "$STATE"
	trap - EXIT
	log "started $REGISTRY (pid $REGISTRY_PID, dir $REGISTRY_DIR) with busybox:latest debian:bookworm debian:latest"
	echo "REGISTRY=$REGISTRY"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
*)
	echo "usage: $0 start|stop|env" >&2
	exit 2
	;;
esac
