package lifecycle

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"usandbox/sandbox"
)

// DefaultTopDescriptors are podman's top columns when none are asked for.
var DefaultTopDescriptors = []string{"user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args"}

// topHeaders are the descriptors top knows (podman's, from psgo) and
// their column titles.
var topHeaders = map[string]string{
	"args": "COMMAND", "comm": "COMMAND", "etime": "ELAPSED", "group": "GROUP", "hgroup": "HGROUP",
	"hpid": "HPID", "huser": "HUSER", "nice": "NI", "pcpu": "%CPU", "pgid": "PGID", "pid": "PID",
	"ppid": "PPID", "state": "STATE", "time": "TIME", "tty": "TTY", "user": "USER", "vsz": "VSZ",
}

// ParseTopDescriptors takes top's arguments (podman's descriptors, one
// per argument or comma-separated); none gives the default columns.
func ParseTopDescriptors(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		for _, d := range strings.FieldsFunc(a, func(r rune) bool { return r == ',' || r == ' ' }) {
			if _, ok := topHeaders[d]; !ok {
				known := make([]string, 0, len(topHeaders))
				for k := range topHeaders {
					known = append(known, k)
				}
				sort.Strings(known)
				return nil, as(ErrInvalid, fmt.Errorf("unknown top descriptor %q: usandbox top knows %s (ps(1) options are not supported)", d, strings.Join(known, ", ")))
			}
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return DefaultTopDescriptors, nil
	}
	return out, nil
}

// Top lists the processes of a running sandbox as podman's top does: one
// title per descriptor (ParseTopDescriptors), then one row per process.
// The processes are those in the sandbox's pid namespace, read from the
// host's /proc, except usandbox's own init (as podman's conmon is not
// shown): exec'd processes too. Pids, users and groups are the sandbox's.
func (e *Engine) Top(ctx context.Context, ref string, descriptors []string) ([]string, [][]string, error) {
	sb, err := e.Lookup(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if !sb.State.Running || sb.State.Pid <= 0 {
		return nil, nil, classify(fmt.Errorf("%w: %s: top can only be used on running sandboxes", sandbox.ErrNotRunning, ref))
	}
	procs, err := sandboxProcs(sb.State.Pid)
	if err != nil {
		return nil, nil, err
	}
	if !sandbox.Locked(sb.Dir) {
		// The pid was the init's only while the lock is held.
		return nil, nil, notRunning(sb)
	}
	titles := make([]string, len(descriptors))
	for i, d := range descriptors {
		titles[i] = topHeaders[d]
	}
	// The sandbox's root, through one of its processes (not the init,
	// which is not dumpable).
	var names idNames
	if len(procs) > 0 {
		names.root = fmt.Sprintf("/proc/%d/root", procs[0].hostPid)
	}
	uptime := readUptime()
	var rows [][]string
	for _, p := range procs {
		row := make([]string, len(descriptors))
		for i, d := range descriptors {
			row[i] = p.field(d, &names, uptime)
		}
		rows = append(rows, row)
	}
	return titles, rows, nil
}

// proc is one process, as /proc shows it.
type proc struct {
	hostPid, pid, ppid int // ppid in the sandbox's namespace, 0 if outside
	stat               procStat
	uid, gid           int // in the sandbox
	hostUID, hostGID   int
	args               []string
	comm               string
}

// procStat is what top uses of /proc/PID/stat.
type procStat struct {
	state                     string
	ppid, pgid, tty           int
	utime, stime, start, nice int64
	vsize                     int64
}

// parseStat parses /proc/PID/stat. The command name, in parentheses,
// may hold spaces and parentheses: the fields start after the last ')'.
func parseStat(b []byte) (procStat, error) {
	var st procStat
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, fmt.Errorf("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state) of proc(5).
	if len(f) < 21 {
		return st, fmt.Errorf("malformed stat: %d fields", len(f)+2)
	}
	num := func(n int) int64 { v, _ := strconv.ParseInt(f[n-3], 10, 64); return v }
	st.state = f[0]
	st.ppid, st.pgid, st.tty = int(num(4)), int(num(5)), int(num(7))
	st.utime, st.stime, st.nice, st.start, st.vsize = num(14), num(15), num(19), num(22), num(23)
	return st, nil
}

// parseStatus returns the Uid, Gid (the real ones) and NSpid lines'
// values of /proc/PID/status.
func parseStatus(b []byte) (uid, gid int, nspid []int) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "Uid":
			uid, _ = strconv.Atoi(f[0])
		case "Gid":
			gid, _ = strconv.Atoi(f[0])
		case "NSpid":
			for _, s := range f {
				n, _ := strconv.Atoi(s)
				nspid = append(nspid, n)
			}
		}
	}
	return uid, gid, nspid
}

// mapID maps a host ID into the namespace whose /proc/PID/{u,g}id_map is
// m ("inside outside count" lines); -1 if it is not mapped.
func mapID(m []byte, host int) int {
	for _, l := range strings.Split(string(m), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		in, _ := strconv.Atoi(f[0])
		out, _ := strconv.Atoi(f[1])
		n, _ := strconv.Atoi(f[2])
		if host >= out && host < out+n {
			return in + host - out
		}
	}
	return -1
}

// sandboxProcs are the processes of the sandbox whose init is init, but
// init, by pid in the sandbox: init's descendants, and every process in
// their pid namespace (exec'd commands, whose parent is outside). The
// init itself is not dumpable, so its namespace links cannot be read;
// a descendant's can.
func sandboxProcs(init int) ([]*proc, error) {
	uidMap, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", init))
	if err != nil {
		return nil, err
	}
	gidMap, err := os.ReadFile(fmt.Sprintf("/proc/%d/gid_map", init))
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	all := map[int]*proc{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == init {
			continue
		}
		if p, err := readProc(pid); err == nil { // else it ended meanwhile
			all[pid] = p
		}
	}
	descends := func(p *proc) bool {
		for n := 0; p != nil && n < 4096; n++ {
			if p.stat.ppid == init {
				return true
			}
			p = all[p.stat.ppid]
		}
		return false
	}
	member := map[int]bool{}
	var ns *unix.Stat_t
	for pid, p := range all {
		if !descends(p) {
			continue
		}
		member[pid] = true
		var st unix.Stat_t
		if ns == nil && unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", pid), &st) == nil {
			ns = &st
		}
	}
	if ns != nil {
		for pid := range all {
			var st unix.Stat_t
			// Processes of other users fail here.
			if !member[pid] && unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", pid), &st) == nil && st.Ino == ns.Ino && st.Dev == ns.Dev {
				member[pid] = true
			}
		}
	}
	var out []*proc
	inNS := map[int]int{init: 1} // host pid → sandbox pid
	for pid := range member {
		p := all[pid]
		p.uid, p.gid = mapID(uidMap, p.hostUID), mapID(gidMap, p.hostGID)
		inNS[pid] = p.pid
		out = append(out, p)
	}
	for _, p := range out {
		p.ppid = inNS[p.stat.ppid]
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out, nil
}

func readProc(pid int) (*proc, error) {
	dir := fmt.Sprintf("/proc/%d", pid)
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return nil, err
	}
	st, err := parseStat(b)
	if err != nil {
		return nil, err
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return nil, err
	}
	p := &proc{hostPid: pid, stat: st}
	var nspid []int
	p.hostUID, p.hostGID, nspid = parseStatus(status)
	p.pid = pid
	if len(nspid) > 0 {
		p.pid = nspid[len(nspid)-1]
	}
	cmdline, _ := os.ReadFile(dir + "/cmdline")
	p.args = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	comm, _ := os.ReadFile(dir + "/comm")
	p.comm = strings.TrimSpace(string(comm))
	if len(p.args) == 0 || p.args[0] == "" {
		p.args = []string{"[" + p.comm + "]"}
	}
	return p, nil
}

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go
// supports.
const clockTicks = 100

func readUptime() float64 {
	b, _ := os.ReadFile("/proc/uptime")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func (p *proc) field(d string, names *idNames, uptime float64) string {
	cpu := time.Duration(p.stat.utime+p.stat.stime) * time.Second / clockTicks
	elapsed := time.Duration((uptime - float64(p.stat.start)/clockTicks) * float64(time.Second))
	switch d {
	case "args":
		return strings.Join(p.args, " ")
	case "comm":
		return p.comm
	case "etime":
		return elapsed.Round(time.Millisecond).String()
	case "group":
		return names.name("group", p.gid)
	case "hgroup":
		if g, err := user.LookupGroupId(strconv.Itoa(p.hostGID)); err == nil {
			return g.Name
		}
		return strconv.Itoa(p.hostGID)
	case "hpid":
		return strconv.Itoa(p.hostPid)
	case "huser":
		if u, err := user.LookupId(strconv.Itoa(p.hostUID)); err == nil {
			return u.Username
		}
		return strconv.Itoa(p.hostUID)
	case "nice":
		return strconv.FormatInt(p.stat.nice, 10)
	case "pcpu":
		if elapsed <= 0 {
			return "0.000"
		}
		return fmt.Sprintf("%.3f", 100*cpu.Seconds()/elapsed.Seconds())
	case "pgid":
		return strconv.Itoa(p.stat.pgid)
	case "pid":
		return strconv.Itoa(p.pid)
	case "ppid":
		return strconv.Itoa(p.ppid)
	case "state":
		return p.stat.state
	case "time":
		return cpu.String()
	case "tty":
		return ttyName(p.stat.tty)
	case "user":
		return names.name("passwd", p.uid)
	case "vsz":
		return strconv.FormatInt(p.stat.vsize/1024, 10)
	}
	return ""
}

// ttyName is ps's name of the terminal device number tty_nr: pts/N for
// the pseudo-terminals (majors 136-143), ? for none.
func ttyName(nr int) string {
	major, minor := (nr>>8)&0xfff, (nr&0xff)|((nr>>12)&0xfff00)
	switch {
	case nr == 0:
		return "?"
	case major >= 136 && major <= 143:
		return fmt.Sprintf("pts/%d", (major-136)*256+minor)
	}
	return fmt.Sprintf("%d:%d", major, minor)
}

// idNames names the sandbox's uids and gids from its own /etc/passwd and
// /etc/group, opened inside its root (through the init's /proc/PID/root,
// resolved in that root: a symlink in the sandbox cannot point top at a
// host file). An ID without a name is shown as its number.
type idNames struct {
	root  string
	files map[string]map[int]string
}

func (n *idNames) name(file string, id int) string {
	if n.root == "" {
		return strconv.Itoa(id)
	}
	if n.files == nil {
		n.files = map[string]map[int]string{}
	}
	m, ok := n.files[file]
	if !ok {
		m = readIDFile(n.root, "/etc/"+file)
		n.files[file] = m
	}
	if s, ok := m[id]; ok {
		return s
	}
	return strconv.Itoa(id)
}

func readIDFile(root, path string) map[int]string {
	m := map[int]string{}
	h, err := pathrs.OpenInRoot(root, path)
	if err != nil {
		return m
	}
	defer h.Close()
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ":")
		if len(parts) < 3 {
			continue
		}
		if id, err := strconv.Atoi(parts[2]); err == nil {
			if _, dup := m[id]; !dup {
				m[id] = parts[0]
			}
		}
	}
	return m
}
