#!/usr/bin/env bash
# Run the resource-limit tests for real, in a small VM with pure cgroup v2
# and a subtree delegated to uid 1000, because this host's cgroups are
# hybrid (v1 controllers) and cannot hold v2 limits.
#
#   sudo bash hack/vmtest.sh [-test.run REGEX]     (make test-vm)
#   sudo bash hack/vmtest.sh --bench                (make bench: run latency with and without limits)
#
# The VM: QEMU (KVM when it boots guests here, else TCG), Debian's kernel
# (linux-image-amd64, unpacked, not installed), a busybox initramfs built
# here and cached, a 9p share with usandbox, usandbox-image, the
# integration tests and the busybox image, and an ext4 disk for the store
# (the guest kernel is 6.1: its tmpfs has no user xattrs, so an overlay
# upper layer cannot live there in a user namespace). /init mounts cgroup2
# with nsdelegate, enables cpu, memory, pids and cpuset, delegates
# /sys/fs/cgroup/user to uid 1000 the way systemd's Delegate=yes does
# (chown of the directory, cgroup.procs, cgroup.threads,
# cgroup.subtree_control), starts a shell in its leaf "session" and runs
# the integration tests' TestLimits, TestCmdsCgroup (pause, stats) and
# TestOCIRuntimeResources (usandbox-runc's linux.resources) as uid 1000.
#
# Exit status: the guest tests' (0 = pass), or 125 when the harness fails.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${USANDBOX_TEST_CACHE:-/var/cache/usandbox-test}
VM=$CACHE/vm
RUN=${*:-}
BENCH=
if [[ $RUN == --bench ]]; then
	BENCH=1 RUN=
fi
log() { echo "vmtest: $*" >&2; }
die() {
	log "error: $*"
	exit 125
}
[[ $(id -u) -eq 0 ]] || die "run as root (it installs qemu and builds the initramfs)"
for b in usandbox usandbox-init usandbox-image integration.test; do
	[[ -x $repo/bin/$b ]] || die "bin/$b missing: make build-tests"
done
[[ -d $CACHE/images/busybox ]] || die "no busybox test image: bash hack/images.sh"

# --- what the host needs ----------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v depmod >/dev/null || need+=(kmod)
command -v cpio >/dev/null || need+=(cpio)
if ((${#need[@]})); then
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- the kernel: Debian's, unpacked once ------------------------------------
mkdir -p "$VM"
if [[ ! -f $VM/kernel/vmlinuz ]]; then
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[[ -n $pkg ]] || {
		apt-get update -qq
		pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	}
	[[ -n $pkg ]] || die "cannot find Debian's kernel package"
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
	dpkg-deb -x "$tmp"/*.deb "$tmp/root"
	kver=$(ls "$tmp/root/lib/modules")
	depmod -b "$tmp/root" "$kver"
	mkdir -p "$tmp/kernel"
	cp "$tmp/root/boot/vmlinuz-$kver" "$tmp/kernel/vmlinuz"
	cp -r "$tmp/root/lib/modules/$kver" "$tmp/kernel/modules"
	rm -rf "$VM/kernel"
	mv "$tmp/kernel" "$VM/kernel"
	rm -rf "$tmp"
	log "kernel $kver unpacked"
fi

# modules_for NAME...: the module files to insmod, dependencies first.
modules_for() {
	local dep=$VM/kernel/modules/modules.dep
	declare -A seen=()
	local out=()
	visit() {
		local m=$1 line deps d
		[[ -n ${seen[$m]:-} ]] && return
		seen[$m]=1
		line=$(grep -E "(^|/)$m\.ko:" "$dep" | head -1)
		[[ -n $line ]] || die "module $m not found"
		deps=${line#*:}
		for d in $deps; do
			visit "$(basename "$d" .ko)"
		done
		out+=("${line%%:*}")
	}
	for m in "$@"; do visit "$m"; done
	printf '%s\n' "${out[@]}"
}

# --- the initramfs: busybox, glibc for the Go binaries, modules, /init -------
INIT_SCRIPT=$(
	cat <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin
if [ "$1" != stage2 ]; then
	# pivot_root cannot leave the initramfs (rootfs): copy it to a tmpfs
	# and switch_root there, so sandboxes can pivot_root.
	mkdir /newroot
	mount -t tmpfs -o size=1g tmpfs /newroot
	cp -a /bin /sbin /etc /lib /lib64 /root /init /newroot/
	mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/run
	exec switch_root /newroot /init stage2
fi
mount -t proc proc /proc
if grep -q usandbox_probe /proc/cmdline; then echo USANDBOX-VM-BOOTED; poweroff -f; fi
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
while read -r m; do insmod "/lib/modules/$m" || echo "vm: insmod $m failed"; done </lib/modules/load
echo "USANDBOX-VM-BOOTED"
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mkdir -p /share /store
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /share
mount -t ext4 /dev/vda /store
echo "+cpu +memory +pids +cpuset" >/sys/fs/cgroup/cgroup.subtree_control
D=/sys/fs/cgroup/user
mkdir -p $D/session
for d in $D $D/session; do
	chown 1000:1000 $d $d/cgroup.procs $d/cgroup.threads $d/cgroup.subtree_control
done
echo "+cpu +memory +pids +cpuset" >$D/cgroup.subtree_control
echo $$ >$D/session/cgroup.procs
mkdir -p /run/user/1000 /store/tmp /store/home
chown 1000:1000 /run/user/1000 /store /store/tmp /store/home
chmod 700 /run/user/1000
ip link set lo up
if [ -f /share/bench ]; then
	su tester -s /bin/sh -c "cd /store/home && HOME=/store/home XDG_RUNTIME_DIR=/run/user/1000 TMPDIR=/store/tmp sh /share/bench" >/share/bench.out 2>/share/bench.err
	echo $? >/share/result
	sync
	poweroff -f
fi
run=$(cat /share/run 2>/dev/null)
echo "vm: kernel $(uname -r), cgroup $(cat /sys/fs/cgroup/cgroup.controllers), $(nproc) CPUs"
su tester -s /bin/sh -c "cd /store/home && HOME=/store/home XDG_RUNTIME_DIR=/run/user/1000 TMPDIR=/store/tmp \
	USANDBOX_BIN=/share/usandbox USANDBOX_RUNC=/share/usandbox-runc USANDBOX_HACK=/share USANDBOX_TEST_CACHE=/share/cache USANDBOX_TEST_MINIMAL=1 \
	/share/integration.test -test.v -test.timeout 20m -test.run '${run:-^(TestLimits|TestCmdsCgroup|TestOCIRuntimeResources)$}'"
echo $? >/share/result
sync
poweroff -f
EOF
)
modlist=$(modules_for virtio_pci virtio_blk ext4 crc32c_generic 9pnet_virtio 9p overlay)
key=$( (
	echo "$INIT_SCRIPT"
	echo "$modlist"
	sha256sum /bin/busybox /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2 "$VM/kernel/vmlinuz"
) | sha256sum | cut -c1-16)
INITRD=$VM/initramfs-$key.cpio.gz
if [[ ! -f $INITRD ]]; then
	tmp=$(mktemp -d)
	root=$tmp/root
	mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,lib/modules,lib64,lib/x86_64-linux-gnu,root}
	cp /bin/busybox "$root/bin/busybox"
	for a in $(/bin/busybox --list); do
		[[ $a == busybox ]] || ln -sf busybox "$root/bin/$a"
	done
	for a in poweroff insmod modprobe; do ln -sf ../bin/busybox "$root/sbin/$a"; done
	cp /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
	cp /lib/x86_64-linux-gnu/libc.so.6 "$root/lib/x86_64-linux-gnu/"
	while read -r m; do
		mkdir -p "$root/lib/modules/$(dirname "$m")"
		cp "$VM/kernel/modules/$m" "$root/lib/modules/$m"
	done <<<"$modlist"
	echo "$modlist" >"$root/lib/modules/load"
	printf 'root:x:0:0:root:/root:/bin/sh\ntester:x:1000:1000:tester:/store/home:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\ntester:x:1000:\n' >"$root/etc/group"
	printf 'root::0:0:99999:7:::\ntester:!:0:0:99999:7:::\n' >"$root/etc/shadow"
	echo "$INIT_SCRIPT" >"$root/init"
	chmod 755 "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/initrd"
	rm -f "$VM"/initramfs-*.cpio.gz
	mv "$tmp/initrd" "$INITRD"
	rm -rf "$tmp"
	log "initramfs built"
fi

# --- this run: share, disk ---------------------------------------------------
work=$(mktemp -d /tmp/usandbox-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
share=$work/share
mkdir -p "$share/cache/images"
cp "$repo/bin/usandbox" "$repo/bin/usandbox-init" "$repo/bin/usandbox-image" "$repo/bin/usandbox-runc" "$repo/bin/integration.test" "$share/"
cp -r "$CACHE/images/busybox" "$share/cache/images/"
mkdir -p "$share/cache/rootfs"
cp -a "$CACHE/rootfs/busybox" "$share/cache/rootfs/"
[[ -z $RUN ]] || echo "${RUN#-test.run }" >"$share/run"
if [[ -n $BENCH ]]; then
	(cd "$repo" && go build -o "$share/timeit" ./hack/timeit) || die "building hack/timeit"
	cat >"$share/bench" <<'BENCH'
U=/share/usandbox
$U --root /store/u --runroot /run/user/1000/u pull -q oci:/share/cache/images/busybox:latest >/dev/null 2>&1 || exit 1
/share/timeit -n 15 -- $U --root /store/u --runroot /run/user/1000/u run --rm busybox true \
	-- $U --root /store/u --runroot /run/user/1000/u run --rm --memory 64m --cpus 1 --pids-limit 100 busybox true
BENCH
fi
chmod -R a+rX "$share"
truncate -s 1G "$work/disk.img"
mkfs.ext4 -q -F -E root_owner=1000:1000 "$work/disk.img"

# --- accelerator: KVM only if it really boots a guest here --------------------
accel=tcg
if [[ -r $VM/accel ]]; then
	accel=$(cat "$VM/accel")
elif [[ -c /dev/kvm ]]; then
	log "probing KVM"
	if timeout 20 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nographic -no-reboot \
		-kernel "$VM/kernel/vmlinuz" -initrd "$INITRD" -append "console=ttyS0 panic=-1 usandbox_probe" \
		2>&1 | grep -q USANDBOX-VM-BOOTED; then
		accel=kvm
	fi
	echo "$accel" >"$VM/accel"
fi
cpu=max
[[ $accel == kvm ]] && cpu=host
log "booting ($accel)"

start=$(date +%s)
set +e
timeout 1500 qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -smp 2 -m 2048 -nographic -no-reboot \
	-kernel "$VM/kernel/vmlinuz" -initrd "$INITRD" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all" \
	-drive "file=$work/disk.img,if=virtio,format=raw,cache=unsafe" \
	-virtfs "local,path=$share,mount_tag=share,security_model=none,id=share" \
	</dev/null | tr -d '\r' | grep -v '^\s*$'
qrc=${PIPESTATUS[0]}
set -e
log "guest ran $(($(date +%s) - start)) s (qemu exit $qrc)"
[[ -f $share/result ]] || die "the guest did not report a result"
rc=$(cat "$share/result")
if [[ -n $BENCH ]]; then
	((rc == 0)) || {
		cat "$share/bench.err" >&2
		die "the benchmark failed in the guest"
	}
	mapfile -t med <"$share/bench.out"
	awk -v a="${med[0]}" -v b="${med[1]}" -v accel="$accel" 'BEGIN {
		d = (b - a) * 1000
		verdict = (d <= 5 ? "met" : "MISSED")
		if (accel == "tcg") verdict = "not measurable under TCG (every step is emulated; runs vary by hundreds of ms)"
		printf "limits run in the VM (%s)   no limits %.1f ms   --memory --cpus --pids-limit %.1f ms   added %.1f ms   goal <= 5 ms: %s\n",
			accel, a * 1000, b * 1000, d, verdict }'
	exit 0
fi
log "guest tests exit $rc"
exit "$rc"
