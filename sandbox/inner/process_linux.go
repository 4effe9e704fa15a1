package inner

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"usandbox/sandbox/spec"
)

// addEntries appends s's AddUsers to the sandbox's /etc/passwd and its
// AddGroups to /etc/group, each unless the file has an entry of its name
// or ID (podman's keep-id entries). The files are resolved inside the
// root, no magic link followed, and created if the image has none. It
// runs after pivot_root, before the root is made read-only: the lines go
// into the sandbox's upper layer.
func addEntries(root *os.File, s *spec.Spec) error {
	var users, groups []entry
	for _, u := range s.AddUsers {
		users = append(users, entry{u.Name, u.UID, fmt.Sprintf("%s:%s:%d:%d:%s:%s:%s\n", u.Name, u.Password, u.UID, u.GID, u.Gecos, u.Home, u.Shell)})
	}
	for _, g := range s.AddGroups {
		groups = append(groups, entry{g.Name, g.GID, fmt.Sprintf("%s:x:%d:%s\n", g.Name, g.GID, g.Members)})
	}
	if err := appendEntries(root, "/etc/passwd", users); err != nil {
		return err
	}
	return appendEntries(root, "/etc/group", groups)
}

// entry is a line for a passwd or group file, known by its name and ID.
type entry struct {
	name string
	id   uint32
	line string
}

func appendEntries(root *os.File, path string, es []entry) error {
	if len(es) == 0 {
		return nil
	}
	f, err := openForAppend(root, path)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	var add bytes.Buffer
	if len(have) > 0 && have[len(have)-1] != '\n' {
		add.WriteByte('\n') // the last line of the image's file ends first
	}
	start := add.Len()
	for _, e := range es {
		if !hasEntry(have, e.name, e.id) {
			add.WriteString(e.line)
		}
	}
	if add.Len() == start {
		return nil
	}
	if _, err := f.Write(add.Bytes()); err != nil {
		return fmt.Errorf("adding to %s: %w", path, err)
	}
	return f.Close()
}

// openForAppend opens path inside root for reading and appending,
// creating it (in an existing directory) if it is missing. Only a
// regular file is opened.
func openForAppend(root *os.File, path string) (*os.File, error) {
	h, err := pathrs.OpenatInRoot(root, path)
	if errors.Is(err, unix.ENOENT) {
		dir, err := pathrs.OpenatInRoot(root, "/etc")
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", path, err)
		}
		defer dir.Close()
		name := path[strings.LastIndexByte(path, '/')+1:]
		fd, err := unix.Openat(int(dir.Fd()), name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDWR|unix.O_APPEND|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", path, err)
		}
		return os.NewFile(uintptr(fd), path), nil
	}
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", path, err)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := pathrs.Reopen(h, unix.O_RDWR|unix.O_APPEND|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return f, nil
}

// hasEntry reports whether a passwd or group file has a line whose name
// (first field) is name or whose ID (third field) is id.
func hasEntry(file []byte, name string, id uint32) bool {
	sc := bufio.NewScanner(bytes.NewReader(file))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 {
			continue
		}
		if f[0] == name {
			return true
		}
		if n, err := strconv.ParseUint(f[2], 10, 32); err == nil && uint32(n) == id {
			return true
		}
	}
	return false
}

// addGroups resolves --group-add (names or numbers) against the sandbox's
// /etc/group and adds them to u's supplementary groups.
func addGroups(u *execUser, names []string, group []byte) error {
	for _, g := range names {
		gid, err := lookupGroup(g, group)
		if err != nil {
			return err
		}
		if gid != u.GID && !containsID(u.Groups, gid) {
			u.Groups = append(u.Groups, gid)
		}
	}
	return nil
}

func lookupGroup(name string, group []byte) (uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	sc := bufio.NewScanner(bytes.NewReader(group))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) >= 3 && f[0] == name {
			n, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil {
				break
			}
			return uint32(n), nil
		}
	}
	return 0, fmt.Errorf("--group-add %s: no such group in the sandbox's /etc/group (give a number, or a group the image has)", name)
}

func containsID(ids []uint32, id uint32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// setRlimits sets the command's resource limits (--ulimit). The parent
// checked that no hard limit is above usandbox's own, which only the
// host's root could raise.
func setRlimits(rl []spec.Rlimit) error {
	for _, r := range rl {
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if err := unix.Setrlimit(r.Type, &lim); err != nil {
			return fmt.Errorf("--ulimit %s: %w", r.Name, err)
		}
	}
	return nil
}

// shmSize is the size option of /dev/shm: --shm-size in bytes (0, as
// tmpfs takes it and podman passes it on: no limit), else docker's 64 MiB.
func shmSize(n *int64) string {
	if n == nil {
		return "size=65536k"
	}
	return "size=" + strconv.FormatInt(*n, 10)
}

// withDevices adds the --device binds to the default devices devs (names
// below /dev): the names of /dev to bind, each with its host path. A
// --device on a default device's name replaces it.
func withDevices(devs []string, extra []spec.Device) ([]string, map[string]string) {
	binds := make(map[string]string, len(devs)+len(extra))
	var out []string
	for _, d := range devs {
		if _, ok := binds[d]; !ok {
			out = append(out, d)
		}
		binds[d] = "/dev/" + d
	}
	for _, d := range extra {
		name := strings.TrimPrefix(d.Path, "/dev/")
		if _, ok := binds[name]; !ok {
			out = append(out, name)
		}
		binds[name] = d.Host
	}
	return out, binds
}

// checkDevice makes sure that the detached mount mfd of the host path
// host is still the device that --device named when the sandbox was
// created (one of devs), not whatever a path swapped since leads to.
func checkDevice(mfd int, host string, devs []spec.Device) error {
	for _, d := range devs {
		if d.Host != host {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstat(mfd, &st); err != nil {
			return fmt.Errorf("--device %s: %w", host, err)
		}
		t := st.Mode & unix.S_IFMT
		if (t != unix.S_IFCHR && t != unix.S_IFBLK) || st.Rdev != d.Rdev {
			return fmt.Errorf("--device %s: it is not the device it was when the sandbox was created", host)
		}
	}
	return nil
}

// ttyGroupMapped reports whether gid 5 (tty, devpts's gid=) is mapped by
// the sandbox's own gid map (--gidmap may leave it out, as podman then
// leaves out the option); no map of its own is the user's full one.
func ttyGroupMapped(m []spec.IDMap) bool {
	if len(m) == 0 {
		return true
	}
	for _, e := range m {
		if e.ContainerID <= 5 && uint64(5-e.ContainerID) < uint64(e.Size) {
			return true
		}
	}
	return false
}
