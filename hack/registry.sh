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
# and a second registry that wants a login (htpasswd, user $AUTH_USER,
# password $AUTH_PASSWORD below), holding busybox:latest.
# start is idempotent: if the registries in the state file still run,
# it just prints REGISTRY= again.
#
# State file: $USANDBOX_TEST_REGISTRY_STATE, default
# $XDG_RUNTIME_DIR/usandbox-test-registry.env (if XDG_RUNTIME_DIR is a
# writable dir) else /tmp/usandbox-test-registry-$UID.env. It holds:
#   REGISTRY=127.0.0.1:PORT
#   REGISTRY_PID=<docker-registry pid>
#   REGISTRY_DIR=<temp dir: storage.yml, storage.log, storage/, and auth.yml, auth.log, auth/, htpasswd>
#   REGISTRY_STORAGE=$REGISTRY_DIR/storage
#   REGISTRY_AUTH=127.0.0.1:PORT (the one with htpasswd auth)
#   REGISTRY_AUTH_PID=<its pid>
#   REGISTRY_AUTH_USER=, REGISTRY_AUTH_PASSWORD= (its one account)
# Blob files (e.g. to corrupt one in a test) are at
#   $REGISTRY_STORAGE/docker/registry/v2/blobs/sha256/<first 2 hex>/<hex digest>/data
# and tags at .../v2/repositories/<name>/_manifests/tags/<tag>/current/link.
set -euo pipefail

log() { echo "registry.sh: $*" >&2; }

# The auth registry's one account. The bcrypt hash (docker-registry takes
# no other) is of AUTH_PASSWORD, made once with Go's
# golang.org/x/crypto/bcrypt (htpasswd -Bbn from apache2-utils makes an
# equivalent one): fixed here, so that a fresh machine needs no tool.
AUTH_USER=usandbox
AUTH_PASSWORD=usandbox-test-password
AUTH_HASH='$2a$10$7EHP4O5T6LFkTvjqhTDC4ua/VUkmrW34G1Tmj04sX7fZHAczFgRGO'

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
	REGISTRY='' REGISTRY_PID='' REGISTRY_DIR='' REGISTRY_AUTH='' REGISTRY_AUTH_PID=''
	[[ -f $STATE ]] || return 1
	local k v
	while IFS='=' read -r k v; do
		case $k in
		REGISTRY | REGISTRY_PID | REGISTRY_DIR | REGISTRY_AUTH | REGISTRY_AUTH_PID) printf -v "$k" '%s' "$v" ;;
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
	local p
	for p in "$REGISTRY_PID" "$REGISTRY_AUTH_PID"; do
		is_ours "$p" || continue
		kill "$p" 2>/dev/null || true
		for _ in $(seq 50); do
			is_ours "$p" || break
			sleep 0.1
		done
		if is_ours "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
	done
	# Only ever delete a directory this script created.
	if [[ $REGISTRY_DIR == */usandbox-test-registry.* && -d $REGISTRY_DIR ]]; then
		rm -rf "$REGISTRY_DIR"
	fi
	rm -f "$STATE"
	log "stopped $REGISTRY (pid $REGISTRY_PID) and $REGISTRY_AUTH (pid $REGISTRY_AUTH_PID)"
}

cmd_env() {
	[[ -f $STATE ]] || die "not running (no state file $STATE)"
	cat "$STATE"
}

# push SRC_IMAGE DEST_REF [SKOPEO_FLAGS...]: skopeo copy from the OCI layout cache.
push() {
	local src=$1 dst=$2
	shift 2
	if ! skopeo copy --quiet --dest-tls-verify=false "$@" "oci:$src" "docker://$REGISTRY/$dst" \
		>>"$REGISTRY_DIR/skopeo.log" 2>&1; then
		cat "$REGISTRY_DIR/skopeo.log" >&2
		die "skopeo copy oci:$src -> $REGISTRY/$dst failed"
	fi
}

# serve NAME [EXTRA_YAML]: run one docker-registry on a free port of
# 127.0.0.1, storage in $REGISTRY_DIR/NAME; sets addr and pid.
serve() {
	local name=$1 extra=${2:-} port ok=
	mkdir -p "$REGISTRY_DIR/$name"
	for _ in $(seq 10); do
		port=$((20000 + RANDOM % 40000))
		# Skip ports with a listener; the bind itself is the final check.
		[[ -z $(ss -Hltn "sport = :$port" 2>/dev/null) ]] || continue
		addr=127.0.0.1:$port
		cat >"$REGISTRY_DIR/$name.yml" <<-EOF
			version: 0.1
			log:
			  level: error
			  accesslog:
			    disabled: true
			storage:
			  filesystem:
			    rootdirectory: $REGISTRY_DIR/$name
			  delete:
			    enabled: true
			http:
			  addr: $addr
			  secret: usandbox-test-$RANDOM$RANDOM
		EOF
		printf '%s' "$extra" >>"$REGISTRY_DIR/$name.yml"
		# New session: survives the calling shell (su -c, test harness).
		setsid docker-registry serve "$REGISTRY_DIR/$name.yml" \
			</dev/null >>"$REGISTRY_DIR/$name.log" 2>&1 &
		pid=$!
		for _ in $(seq 100); do # up to 10 s
			# 401 is the answer of the registry with auth.
			if answers "$addr" || [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$addr/v2/") == 401 ]]; then
				ok=1
				break
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		[[ -n $ok ]] && return 0
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pid=
		# Port taken between the check and the bind: try another one.
		grep -q 'address already in use' "$REGISTRY_DIR/$name.log" 2>/dev/null && continue
		cat "$REGISTRY_DIR/$name.log" >&2
		die "docker-registry $name did not answer on $addr within 10s"
	done
	die "no free port found"
}

cmd_start() {
	if load_state; then
		if is_ours "$REGISTRY_PID" && answers "$REGISTRY" && is_ours "$REGISTRY_AUTH_PID"; then
			log "already running at $REGISTRY (pid $REGISTRY_PID), with auth at $REGISTRY_AUTH (pid $REGISTRY_AUTH_PID)"
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
	trap 'for p in "${REGISTRY_PID:-}" "${REGISTRY_AUTH_PID:-}"; do is_ours "$p" && kill "$p"; done; rm -rf "$REGISTRY_DIR"' EXIT

	serve storage
	REGISTRY=$addr REGISTRY_PID=$pid
	printf '%s:%s\n' "$AUTH_USER" "$AUTH_HASH" >"$REGISTRY_DIR/htpasswd"
	serve auth "$(printf 'auth:\n  htpasswd:\n    realm: usandbox-test\n    path: %s\n' "$REGISTRY_DIR/htpasswd")"
	REGISTRY_AUTH=$addr REGISTRY_AUTH_PID=$pid

	push "$CACHE/images/busybox:latest" busybox:latest
	push "$CACHE/images/debian:bookworm" debian:bookworm
	push "$CACHE/images/debian:bookworm" debian:latest
	REGISTRY=$REGISTRY_AUTH push "$CACHE/images/busybox:latest" busybox:latest --dest-creds="$AUTH_USER:$AUTH_PASSWORD"

	umask 077
	printf 'REGISTRY=%s\nREGISTRY_PID=%s\nREGISTRY_DIR=%s\nREGISTRY_STORAGE=%s\nREGISTRY_AUTH=%s\nREGISTRY_AUTH_PID=%s\nREGISTRY_AUTH_USER=%s\nREGISTRY_AUTH_PASSWORD=%s\n' \
		"$REGISTRY" "$REGISTRY_PID" "$REGISTRY_DIR" "$REGISTRY_DIR/storage" \
		"$REGISTRY_AUTH" "$REGISTRY_AUTH_PID" "$AUTH_USER" "$AUTH_PASSWORD" >"$STATE.tmp"
	mv -f "$STATE.tmp" "$STATE"
	trap - EXIT
	log "started $REGISTRY (pid $REGISTRY_PID, dir $REGISTRY_DIR) with busybox:latest debian:bookworm debian:latest"
	log "started $REGISTRY_AUTH (pid $REGISTRY_AUTH_PID, htpasswd auth, $AUTH_USER) with busybox:latest"
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
