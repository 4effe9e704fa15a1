package userns

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	osuser "os/user"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// Mode says how the IDs map.
type Mode int

const (
	// Root: usandbox runs as real root and needs no user namespace.
	Root Mode = iota
	// Full: the user's uid plus its sub-ID ranges, via newuidmap/newgidmap.
	Full
	// Single: only the user's own uid and gid, written directly.
	Single
)

func (m Mode) String() string {
	return [...]string{"root", "full", "single"}[m]
}

// Plan is how this process's user maps into a user namespace.
type Plan struct {
	Mode     Mode
	UID, GID uint32
	User     string
	UIDMap   []IDMap
	GIDMap   []IDMap
	// Warning, when set, is one line to print (the single-ID fallback).
	Warning string

	newuidmap, newgidmap string
}

// HostError is a host setting that stops usandbox; Fix is the command
// that changes it.
type HostError struct {
	Cause, Fix string
}

func (e *HostError) Error() string { return e.Cause + "; fix: " + e.Fix }

// ErrNoUserNS is wrapped by every HostError about user namespaces.
var ErrNoUserNS = errors.New("user namespaces unavailable")

// Paths of the files read; variables of a Host so tests can point them
// elsewhere.
type Host struct {
	ReadFile func(string) ([]byte, error)
	LookPath func(string) (string, error)
	Stat     func(string) (os.FileInfo, error)
	// HasFileCaps reports whether a file has a security.capability xattr.
	HasFileCaps func(string) bool
	SubUID      string
	SubGID      string
}

// RealHost reads the running system.
func RealHost() Host {
	return Host{
		ReadFile: os.ReadFile,
		LookPath: exec.LookPath,
		Stat:     os.Stat,
		HasFileCaps: func(p string) bool {
			sz, err := unix.Getxattr(p, "security.capability", nil)
			return err == nil && sz > 0
		},
		SubUID: "/etc/subuid",
		SubGID: "/etc/subgid",
	}
}

// Detect works out the plan for the current user on the running host.
func Detect() (*Plan, error) {
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	if uid == 0 {
		return &Plan{Mode: Root}, nil
	}
	return RealHost().Plan(uid, gid, userName(uid))
}

// userName finds the name of uid: in /etc/passwd first (moby/sys/user:
// cheap, no NSS modules to load), then through NSS (LDAP and other
// directories), then $USER.
func userName(uid uint32) string {
	if u, err := user.LookupUid(int(uid)); err == nil {
		return u.Name
	}
	if u, err := osuser.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// Plan works out the plan for the user uid/gid called name (may be empty).
func (h Host) Plan(uid, gid uint32, name string) (*Plan, error) {
	if err := h.CheckKernel(); err != nil {
		return nil, err
	}
	p := &Plan{UID: uid, GID: gid, User: name}
	subU, errU := h.subIDs(h.SubUID, name, uid)
	subG, errG := h.subIDs(h.SubGID, name, uid)
	if errU != nil {
		return nil, errU
	}
	if errG != nil {
		return nil, errG
	}
	if len(subU) == 0 || len(subG) == 0 {
		who := name
		if who == "" {
			who = strconv.FormatUint(uint64(uid), 10)
		}
		p.Mode = Single
		p.UIDMap = []IDMap{{0, uid, 1}}
		p.GIDMap = []IDMap{{0, gid, 1}}
		p.Warning = fmt.Sprintf("no range for %s in %s/%s: only your own uid is mapped and images with other owners may fail (fix: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)",
			who, h.SubUID, h.SubGID, who)
		return p, nil
	}
	var err error
	if p.newuidmap, err = h.CheckHelper("newuidmap"); err != nil {
		return nil, err
	}
	if p.newgidmap, err = h.CheckHelper("newgidmap"); err != nil {
		return nil, err
	}
	p.Mode = Full
	p.UIDMap = FullMap(uid, subU)
	p.GIDMap = FullMap(gid, subG)
	return p, nil
}

func (h Host) subIDs(path, name string, id uint32) ([]Range, error) {
	b, err := h.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("userns: %w", err)
	}
	return ParseSubIDs(bytes.NewReader(b), name, id)
}

func (h Host) sysctl(path string) (int, bool) {
	b, err := h.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

// CheckKernel reports a kernel setting that forbids unprivileged user
// namespaces, with the command that lifts it.
func (h Host) CheckKernel() error {
	if n, ok := h.sysctl("/proc/sys/user/max_user_namespaces"); ok && n == 0 {
		return fmt.Errorf("%w: %w", ErrNoUserNS, &HostError{
			Cause: "user namespaces are disabled (user.max_user_namespaces = 0)",
			Fix:   "sudo sysctl -w user.max_user_namespaces=28633",
		})
	}
	if n, ok := h.sysctl("/proc/sys/kernel/unprivileged_userns_clone"); ok && n == 0 {
		return fmt.Errorf("%w: %w", ErrNoUserNS, &HostError{
			Cause: "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)",
			Fix:   "sudo sysctl -w kernel.unprivileged_userns_clone=1",
		})
	}
	if n, ok := h.sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); ok && n == 1 {
		return fmt.Errorf("%w: %w", ErrNoUserNS, &HostError{
			Cause: "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)",
			Fix:   "give usandbox an AppArmor profile with 'userns,' in /etc/apparmor.d/usandbox, or sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
		})
	}
	return nil
}

// CheckHelper finds newuidmap or newgidmap and checks it can do its job:
// setuid root, or file capabilities.
func (h Host) CheckHelper(name string) (string, error) {
	p, err := h.LookPath(name)
	if err != nil {
		return "", &HostError{
			Cause: name + " is not installed",
			Fix:   "sudo apt-get install uidmap (Fedora: shadow-utils)",
		}
	}
	fi, err := h.Stat(p)
	if err != nil {
		return "", fmt.Errorf("userns: %w", err)
	}
	st, _ := fi.Sys().(*unix.Stat_t)
	setuidRoot := fi.Mode()&os.ModeSetuid != 0 && (st == nil || st.Uid == 0)
	if !setuidRoot && !h.HasFileCaps(p) {
		return "", &HostError{
			Cause: p + " is neither setuid root nor has file capabilities",
			Fix:   "sudo chmod u+s " + p,
		}
	}
	return p, nil
}

// Apply writes the maps of the process pid, which must have just created
// its user namespace.
func (p *Plan) Apply(pid int) error {
	switch p.Mode {
	case Full:
		// newuidmap and newgidmap are independent: run them at once.
		errs := make(chan error, 2)
		for _, h := range []struct {
			bin string
			m   []IDMap
		}{{p.newuidmap, p.UIDMap}, {p.newgidmap, p.GIDMap}} {
			go func() {
				cmd := exec.Command(h.bin, append([]string{strconv.Itoa(pid)}, helperArgs(h.m)...)...)
				if out, err := cmd.CombinedOutput(); err != nil {
					errs <- fmt.Errorf("userns: %s: %s (%w); check your ranges in /etc/subuid and /etc/subgid", h.bin, strings.TrimSpace(string(out)), err)
					return
				}
				errs <- nil
			}()
		}
		return errors.Join(<-errs, <-errs)
	case Single:
		dir := "/proc/" + strconv.Itoa(pid) + "/"
		// setgroups must be denied before an unprivileged gid_map write.
		for _, f := range []struct{ name, data string }{
			{"setgroups", "deny"},
			{"uid_map", fmt.Sprintf("0 %d 1\n", p.UID)},
			{"gid_map", fmt.Sprintf("0 %d 1\n", p.GID)},
		} {
			if err := os.WriteFile(dir+f.name, []byte(f.data), 0); err != nil {
				return fmt.Errorf("userns: writing %s: %w", f.name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("userns: no map to write as root")
}
