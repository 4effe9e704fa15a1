#!/usr/bin/env bash
# Build the cached test images for usandbox (run as root).
#
#   sudo bash hack/images.sh          # builds only what is missing
#   USANDBOX_TEST_CACHE=/some/dir sudo -E bash hack/images.sh
#
# Layout of $USANDBOX_TEST_CACHE (default /var/cache/usandbox-test):
#   bin/mkimage              built from hack/mkimage
#   rootfs/busybox/          busybox rootfs (also used by the bwrap benchmark)
#   rootfs/debian/           debootstrap --variant=minbase bookworm (kept, slow)
#   images/busybox/          OCI layout, tag "latest", 1 layer, Cmd ["sh"]
#   images/busybox.tar       same as oci-archive
#   images/debian/           OCI layout, tag "bookworm", 3 layers:
#                            rootfs, semantics-base, semantics-top; Cmd ["bash"]
#   images/debian.tar        same as oci-archive
#
# Nothing that exists is rebuilt (delete a path to rebuild it). Every build
# goes to a temp dir and is renamed into place, so an interrupted run leaves
# nothing half-made. stdout stays empty; one line per image goes to stderr.
set -euo pipefail
umask 022

log() { echo "images.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, file ownership)"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${USANDBOX_TEST_CACHE:-/var/cache/usandbox-test}
IMAGES=$CACHE/images
ROOTFS=$CACHE/rootfs
BIN=$CACHE/bin
MKIMAGE=$BIN/mkimage
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Fixed timestamp: image "created" time, busybox rootfs mtimes and the
# clamp for the debian rootfs's mtimes, so both images are reproducible
# (same busybox binary / same package versions -> same digests).
export SOURCE_DATE_EPOCH=1704067200 # 2024-01-01T00:00:00Z

mkdir -p "$IMAGES" "$ROOTFS" "$BIN"
chmod 0755 "$CACHE" "$IMAGES" "$ROOTFS" "$BIN"

# One run at a time; this also makes stale temp dirs safe to delete.
exec 9>"$CACHE/.lock"
flock -n 9 || die "another images.sh is running (lock $CACHE/.lock)"

# safe_rm DIR: remove DIR without ever descending into a mount point
# (debootstrap mounts proc/sys inside its target while it runs).
safe_rm() {
	local dir=$1 m
	[[ -e $dir ]] || return 0
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(findmnt -rn -o TARGET | awk -v p="$dir/" 'index($0, p) == 1' | sort -r)
	rm -rf --one-file-system "$dir"
}

# Leftovers of an interrupted (killed) run.
for d in "$IMAGES"/.tmp-* "$ROOTFS"/.tmp-*; do
	[[ -e $d ]] && safe_rm "$d"
done

TMPS=()
cleanup() {
	local d
	for d in "${TMPS[@]}"; do safe_rm "$d"; done
}
trap cleanup EXIT
# Turn signals into a normal exit so the EXIT trap cleans up.
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# build_mkimage: (re)build the layout writer once per run, only when needed.
MKIMAGE_BUILT=
build_mkimage() {
	[[ -n $MKIMAGE_BUILT ]] && return 0
	if ! command -v go >/dev/null; then
		[[ -x /usr/local/go/bin/go ]] || die "go not found"
		PATH=$PATH:/usr/local/go/bin
	fi
	# Normal module build; if the module is broken for reasons outside
	# hack/mkimage (stdlib only), fall back to a GOPATH-mode build.
	if ! (cd "$REPO" && go build -o "$MKIMAGE.tmp" ./hack/mkimage) 2>"$BIN/.build.log"; then
		(cd "$REPO/hack/mkimage" && GO111MODULE=off go build -o "$MKIMAGE.tmp" .) 2>>"$BIN/.build.log" ||
			{ cat "$BIN/.build.log" >&2; die "building mkimage failed"; }
	fi
	rm -f "$BIN/.build.log"
	chmod 0755 "$MKIMAGE.tmp"
	mv -f "$MKIMAGE.tmp" "$MKIMAGE"
	MKIMAGE_BUILT=1
}

# newtmp DIR NAME: set TMP to a new temp dir inside DIR (same filesystem, so
# mv is a rename) and register it for cleanup. Not used via $(...): that
# subshell would lose the TMPS entry.
newtmp() {
	TMP=$(mktemp -d "$1/.tmp-$2.XXXXXX")
	chmod 0755 "$TMP"
	TMPS+=("$TMP")
}

# make_busybox_rootfs: /bin/busybox + applet symlinks + minimal /etc.
make_busybox_rootfs() {
	local dst=$ROOTFS/busybox t r applet
	[[ -d $dst ]] && return 0
	[[ -x /bin/busybox ]] || die "/bin/busybox missing (apt-get install busybox-static)"
	if LC_ALL=C ldd /bin/busybox >/dev/null 2>&1; then
		die "/bin/busybox is dynamically linked (install busybox-static)"
	fi
	newtmp "$ROOTFS" busybox
	t=$TMP
	r=$t/rootfs
	install -d -m 0755 "$r" "$r"/{bin,dev,etc,home,proc,root,sys,usr,var}
	install -d -m 1777 "$r/tmp"
	install -d -m 0755 -o 1000 -g 1000 "$r/home/user"
	install -m 0755 /bin/busybox "$r/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[[ $applet == busybox ]] || ln -s busybox "$r/bin/$applet"
	done
	cat >"$r/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		user:x:1000:1000:user:/home/user:/bin/sh
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	EOF
	cat >"$r/etc/group" <<-'EOF'
		root:x:0:
		users:x:100:
		user:x:1000:
		nogroup:x:65534:
	EOF
	chmod 0644 "$r/etc/passwd" "$r/etc/group"
	find "$r" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	mv -T "$r" "$dst"
}

# normalize_rootfs DIR: drop what makes two debootstraps of the same
# packages differ, so the debian image's digests depend only on its inputs
# (the package versions on the mirror and SOURCE_DATE_EPOCH):
#   - files that name this machine: debootstrap copies the host's
#     /etc/hostname and /etc/resolv.conf in (usandbox writes both in every
#     sandbox); /etc/machine-id if a package made one;
#   - logs and backups with timestamps or run-specific contents: var/log/*.log,
#     var/log/apt/*, dpkg's and debconf's *-old, etc/*- (shadow tools' backups),
#     ldconfig's aux-cache (it records inode numbers and ctimes);
#   - mtimes: every mtime newer than SOURCE_DATE_EPOCH is clamped to it (like
#     tar --clamp-mtime), last, since deleting a file changes its directory's.
# Owners and modes stay as debootstrap made them; mkimage writes entries in
# lexical order with numeric owners only. The shadow files' "last change"
# day already comes from SOURCE_DATE_EPOCH (exported above; shadow's tools
# honour it).
normalize_rootfs() {
	local r=$1
	: >"$r/etc/hostname"
	: >"$r/etc/resolv.conf"
	[[ ! -e $r/etc/machine-id ]] || : >"$r/etc/machine-id"
	rm -f "$r"/var/log/*.log "$r"/var/log/apt/* \
		"$r"/var/lib/dpkg/*-old "$r"/var/cache/debconf/*-old \
		"$r"/etc/passwd- "$r"/etc/group- "$r"/etc/shadow- "$r"/etc/gshadow- \
		"$r"/etc/subuid- "$r"/etc/subgid- \
		"$r"/var/cache/ldconfig/aux-cache
	find "$r" -xdev -newermt "@$SOURCE_DATE_EPOCH" -exec touch --no-create -h -d "@$SOURCE_DATE_EPOCH" {} +
}

# make_debian_rootfs: debootstrap minbase (minutes; network), apt caches removed.
make_debian_rootfs() {
	local dst=$ROOTFS/debian t r start
	[[ -d $dst ]] && return 0
	command -v debootstrap >/dev/null || die "debootstrap missing"
	newtmp "$ROOTFS" debian
	t=$TMP
	r=$t/rootfs
	start=$SECONDS
	if ! debootstrap --variant=minbase "$SUITE" "$r" "$MIRROR" >"$t/debootstrap.log" 2>&1; then
		tail -n 30 "$t/debootstrap.log" >&2
		die "debootstrap failed (full log was $t/debootstrap.log)"
	fi
	rm -f "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin
	rm -rf "$r"/var/lib/apt/lists/*
	normalize_rootfs "$r"
	chmod 0755 "$r"
	mv -T "$r" "$dst"
	log "debootstrap $SUITE minbase took $((SECONDS - start))s -> $dst"
}

# make_image NAME TAG CMD_JSON MKIMAGE_LAYER_ARGS...: OCI layout + oci-archive.
make_image() {
	local name=$1 tag=$2 cmd=$3 layout=$IMAGES/$1 archive=$IMAGES/$1.tar t what start
	shift 3
	what=reused
	if [[ ! -d $layout || ! -f $archive ]]; then
		start=$SECONDS
		build_mkimage
		newtmp "$IMAGES" "$name"
		t=$TMP
		"$MKIMAGE" -out "$t/layout" -tag "$tag" -cmd "$cmd" -env "PATH=$IMAGE_PATH" \
			-archive "$t/archive.tar" "$@"
		chmod -R a+rX "$t"
		# Keep whichever half already exists (output is deterministic).
		[[ -d $layout ]] || mv -T "$t/layout" "$layout"
		[[ -f $archive ]] || mv -T "$t/archive.tar" "$archive"
		what="built in $((SECONDS - start))s"
	fi
	local digest nlayers
	digest=$(jq -r '.manifests[0].digest' "$layout/index.json")
	nlayers=$(jq '.layers | length' "$layout/blobs/sha256/${digest#sha256:}")
	log "$what $name:$tag $digest ($nlayers layer(s), archive $(stat -c %s "$archive") bytes) -> $layout, $archive"
}

make_busybox_rootfs
make_image busybox latest '["sh"]' -layer-dir "$ROOTFS/busybox"

make_debian_rootfs
make_image debian "$SUITE" '["bash"]' \
	-layer-dir "$ROOTFS/debian" \
	-layer-fixtures semantics-base \
	-layer-fixtures semantics-top

# World-readable for the unprivileged test user. The debian rootfs keeps
# debootstrap's own modes (e.g. /etc/shadow 0640): it is image input only.
chmod -R a+rX "$ROOTFS/busybox"
find "$IMAGES" "$BIN" -type d ! -perm 0755 -exec chmod 0755 {} +
find "$IMAGES" "$BIN" -type f -perm -u+x ! -perm 0755 -exec chmod 0755 {} +
find "$IMAGES" "$BIN" -type f ! -perm -u+x ! -perm 0644 -exec chmod 0644 {} +
chmod 0644 "$CACHE/.lock"
