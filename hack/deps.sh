#!/usr/bin/env bash
# Install, from Debian's apt, what building, testing and benchmarking
# usandbox needs. Root only; installs nothing that is already there.
set -euo pipefail
pkgs=(
	golang-go gcc make git ca-certificates curl   # build
	libseccomp-dev pkgconf                        # sandbox/seccomp (cgo, -tags seccomp; ships libseccomp.a for the static link)
	uidmap                                        # newuidmap/newgidmap
	fuse-overlayfs                                # overlay fallback
	slirp4netns passt                             # user-mode networking
	busybox-static debootstrap                    # offline test images
	docker-registry skopeo                        # local registry for tests
	dnsmasq-base                                  # local resolver for the DNS test
	podman runc bubblewrap iperf3                 # the benchmark's references
	qemu-system-x86 e2fsprogs kmod cpio           # hack/vmtest (cgroup v2 limits in a VM)
	nftables                                      # -p keeps the TCP source address
	jq procps util-linux iproute2
	bash-completion                               # TestCmdsCompletion (urfave/cli's bash script needs it)
)
[[ $(id -u) -eq 0 ]] || { echo "deps.sh: run as root (apt-get install)" >&2; exit 1; }
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# A Go toolchain already on PATH (e.g. /usr/local/go) is fine.
if command -v go >/dev/null; then
	missing=("${missing[@]/golang-go/}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if ((${#missing[@]})); then
	echo "deps.sh: installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
