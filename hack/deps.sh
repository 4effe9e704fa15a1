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
	containerd rootlesskit                        # TestOCIContainerd (rootless containerd 1.6 drives the OCI runtime; ctr, the runc v2 shim)
	qemu-system-x86 e2fsprogs kmod cpio           # hack/vmtest (cgroup v2 limits in a VM)
	nftables                                      # -p keeps the TCP source address
	jq procps util-linux iproute2
	docker-compose                                # TestDockerAPICompose (compose 1.29 against system service)
	bash-completion                               # TestCmdsCompletion (urfave/cli's bash script needs it)
	tmux                                          # TestDockerAPIExecTerminal (docker exec -it in a terminal)
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

# Debian's docker CLI (20.10, API 1.41), the Docker API's test client,
# unpacked into the test cache without installing docker.io: no dockerd
# is ever started.
CACHE=${USANDBOX_TEST_CACHE:-/var/cache/usandbox-test}
if [[ ! -x $CACHE/docker-cli/usr/bin/docker ]]; then
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -qq docker.io >/dev/null 2>&1 && dpkg -x docker.io_*.deb "$tmp/x") &&
		install -D -m 755 "$tmp/x/usr/bin/docker" "$CACHE/docker-cli/usr/bin/docker" &&
		echo "deps.sh: docker CLI in $CACHE/docker-cli/usr/bin/docker" >&2 ||
		echo "deps.sh: could not fetch docker.io's client (apt-get download docker.io): the Docker API tests skip" >&2
	rm -rf "$tmp"
fi
