// Package doctor checks whether a host can run rootless sandboxes and, for
// each problem, names the command that fixes it.
package doctor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"usandbox/cgroupv2"
	"usandbox/userns"
)

// Status of a check.
type Status string

const (
	OK   Status = "OK"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Result is one check.
type Result struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Probes are the checks that need a process of their own; the CLI
// supplies them (they re-execute the binary).
type Probes struct {
	// UserNS creates a user namespace with a single-ID map.
	UserNS func() error
	// Overlay mounts an overlay, with userxattr, inside a user namespace,
	// in a directory on the filesystem of dir.
	Overlay func(dir string) error
	// StoreRoot is the directory images are stored in.
	StoreRoot string
}

// Run runs every check.
func Run(p Probes) []Result {
	var out []Result
	add := func(r Result) { out = append(out, r) }
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	root := uid == 0

	host := userns.RealHost()
	if err := host.CheckKernel(); err != nil {
		add(hostErr("user namespaces", err))
	} else if err := p.UserNS(); err != nil {
		add(Result{"user namespaces", Fail, "cannot create one: " + err.Error(),
			"if this runs inside a container, allow nested user namespaces; else sudo sysctl -w user.max_user_namespaces=28633"})
	} else {
		add(Result{"user namespaces", OK, "an unprivileged user namespace can be created", ""})
	}

	if root {
		add(Result{"sub-ID ranges", OK, "running as root: no ranges needed", ""})
	} else {
		pl, err := userns.Detect()
		if r, ok := subIDRow(pl, err, os.Getenv("USER")); ok {
			add(r)
		}
		for _, h := range []string{"newuidmap", "newgidmap"} {
			if path, err := host.CheckHelper(h); err != nil {
				add(hostErr(h, err))
			} else {
				add(Result{h, OK, path + " can write ID maps", ""})
			}
		}
	}

	add(runtimeDir(uid, gid, root))
	if p.Overlay != nil {
		if err := p.Overlay(p.StoreRoot); err != nil {
			fix := "put the store on ext4/xfs/btrfs with --root (kernel 5.11+ needed), or apt-get install fuse-overlayfs"
			if _, lerr := exec.LookPath("fuse-overlayfs"); lerr == nil {
				add(Result{"overlay", Warn, "native overlay fails in a user namespace (" + err.Error() + "): fuse-overlayfs will be used, slower", fix})
			} else {
				add(Result{"overlay", Warn, "native overlay fails in a user namespace (" + err.Error() + "): the slow vfs driver will be used", fix})
			}
		} else {
			add(Result{"overlay", OK, "native overlay mounts in a user namespace on the store's filesystem", ""})
		}
	}
	add(cgroups())
	if r, ok := linger(); ok {
		add(r)
	}
	add(tun())
	add(tool("slirp4netns", "slirp4netns", "the default user-mode network"))
	add(tool("pasta", "passt", "--network pasta"))
	return out
}

// subIDRow is the "sub-ID ranges" row for what userns.Detect returned,
// or none: a host problem (user namespaces refused, a helper missing) is
// the row of the check it belongs to, and one problem gets one row.
func subIDRow(pl *userns.Plan, err error, user string) (Result, bool) {
	const name = "sub-ID ranges"
	fix := fmt.Sprintf("sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s", user)
	if err != nil {
		if _, ok := asHostError(err); ok {
			return Result{}, false
		}
		return Result{name, Fail, err.Error(), "check your lines in /etc/subuid and /etc/subgid, or: " + fix}, true
	}
	if pl.User != "" {
		user = pl.User
		fix = fmt.Sprintf("sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s", user)
	}
	switch pl.Mode {
	case userns.Full:
		n := userns.Size(pl.UIDMap) - 1
		g := userns.Size(pl.GIDMap) - 1
		if n < 65536 || g < 65536 {
			return Result{name, Warn, fmt.Sprintf("%d subuids and %d subgids: images with IDs above that fail (\"potentially insufficient UIDs or GIDs\")", n, g), fix}, true
		}
		return Result{name, OK, fmt.Sprintf("%d subuids and %d subgids for %s", n, g, user), ""}, true
	case userns.Single:
		return Result{name, Warn, "no range in /etc/subuid and /etc/subgid: only your own uid is mapped (LDAP/NIS users often have none)", fix}, true
	}
	return Result{}, false
}

func hostErr(name string, err error) Result {
	if he, ok := asHostError(err); ok {
		return Result{name, Fail, he.Cause, he.Fix}
	}
	return Result{name, Fail, err.Error(), ""}
}

func asHostError(err error) (*userns.HostError, bool) {
	var he *userns.HostError
	return he, errors.As(err, &he)
}

func runtimeDir(uid, gid uint32, root bool) Result {
	const name = "XDG_RUNTIME_DIR"
	dir := os.Getenv(name)
	if dir == "" {
		if root {
			return Result{name, OK, "unset; root uses /run/usandbox", ""}
		}
		return Result{name, Warn, "unset (common in su/sudo sessions): runtime state goes to /tmp/usandbox-run-" + fmt.Sprint(uid),
			fmt.Sprintf("sudo install -d -m 700 -o %d -g %d /run/user/%d && export XDG_RUNTIME_DIR=/run/user/%d (or log in with ssh/machinectl, or loginctl enable-linger)", uid, gid, uid, uid)}
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return Result{name, Fail, dir + ": " + err.Error(),
			fmt.Sprintf("sudo install -d -m 700 -o %d -g %d %s", uid, gid, dir)}
	}
	if st.Uid != uid || st.Mode&0o077 != 0 {
		return Result{name, Fail, fmt.Sprintf("%s is not private to you (owner %d, mode %o)", dir, st.Uid, st.Mode&0o777),
			fmt.Sprintf("sudo chown %d:%d %s && sudo chmod 700 %s", uid, gid, dir, dir)}
	}
	return Result{name, OK, dir, ""}
}

func cgroups() Result {
	const name = "cgroups"
	info, err := cgroupv2.Detect()
	if err != nil {
		return Result{name, Warn, err.Error(), ""}
	}
	all := cgroupv2.Limits{Memory: 1, CPUQuota: 1, CpusetCpus: "0", PidsLimit: 1}
	if err := info.Check(all); err != nil {
		detail, fix, _ := strings.Cut(err.Error(), "; fix: ")
		return Result{name, Warn, detail + " (run works; limit flags are refused)", fix}
	}
	return Result{name, OK, "cgroup v2 delegated at " + filepath.Dir(info.Dir()) + ": --memory, --cpus, --pids-limit, --cpuset-cpus work", ""}
}

// linger: with systemd-logind, a user's processes (detached sandboxes
// included) are killed at logout unless lingering is on. Without logind
// there is nothing to check.
func linger() (Result, bool) {
	const name = "linger"
	if _, err := os.Stat("/run/systemd/seats"); err != nil {
		return Result{}, false
	}
	user := os.Getenv("USER")
	if user == "" || os.Getuid() == 0 {
		return Result{}, false
	}
	if _, err := os.Stat("/var/lib/systemd/linger/" + user); err != nil {
		return Result{name, Warn, "lingering is off: systemd-logind kills detached sandboxes when you log out", "loginctl enable-linger " + user}, true
	}
	return Result{name, OK, "on: detached sandboxes survive logout", ""}, true
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "no controllers"
	}
	return strings.Join(l, " ")
}

func tun() Result {
	const name = "/dev/net/tun"
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return Result{name, Warn, "cannot open it (" + err.Error() + "): slirp4netns and pasta networking fail",
			"sudo chmod 0666 /dev/net/tun (every boot; Debian's udev package does it for you)"}
	}
	f.Close()
	return Result{name, OK, "usable", ""}
}

func tool(bin, pkg, what string) Result {
	if p, err := exec.LookPath(bin); err == nil {
		return Result{bin, OK, p, ""}
	}
	return Result{bin, Warn, "not installed: " + what + " is unavailable", "sudo apt-get install " + pkg}
}

// Failed reports whether any check failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}
