package bypass

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// run interprets the filter (the few instructions it uses) on one call.
func run(t *testing.T, prog []unix.SockFilter, arch uint32, nr int, args ...uint64) uint32 {
	t.Helper()
	var a [6]uint64
	copy(a[:], args)
	load := func(off uint32) uint32 {
		switch {
		case off == offNr:
			return uint32(nr)
		case off == offArch:
			return arch
		case off >= 16 && off < 64 && (off-16)%8 == 0:
			return uint32(a[(off-16)/8])
		}
		t.Fatalf("load of offset %d", off)
		return 0
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = load(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if acc == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			if acc&in.K != 0 {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %#x at %d", in.Code, pc)
		}
	}
	t.Fatal("ran off the end")
	return 0
}

func TestFilter(t *testing.T) {
	prog := Filter()
	if len(prog) > 4096 {
		t.Fatalf("%d instructions", len(prog))
	}
	eop := retErrno(unix.EOPNOTSUPP)
	nosys := retErrno(unix.ENOSYS)
	for _, c := range []struct {
		name string
		arch uint32
		nr   int
		args []uint64
		want uint32
	}{
		{"connect", archX86_64, unix.SYS_CONNECT, nil, retNotify},
		{"bind", archX86_64, unix.SYS_BIND, nil, retNotify},
		{"listen", archX86_64, unix.SYS_LISTEN, nil, retNotify},
		{"accept4", archX86_64, unix.SYS_ACCEPT4, nil, retAllow},
		{"sendto", archX86_64, unix.SYS_SENDTO, []uint64{3, 0, 0, unix.MSG_DONTWAIT, 0, 0}, retAllow},
		{"sendto fastopen", archX86_64, unix.SYS_SENDTO, []uint64{3, 0, 0, unix.MSG_FASTOPEN, 1, 16}, eop},
		{"sendmsg", archX86_64, unix.SYS_SENDMSG, []uint64{3, 0, 0}, retAllow},
		{"sendmsg fastopen", archX86_64, unix.SYS_SENDMSG, []uint64{3, 0, unix.MSG_FASTOPEN | unix.MSG_NOSIGNAL}, eop},
		{"sendmmsg fastopen", archX86_64, unix.SYS_SENDMMSG, []uint64{3, 0, 1, unix.MSG_FASTOPEN}, eop},
		{"sendmmsg", archX86_64, unix.SYS_SENDMMSG, []uint64{3, 0, 1, 0}, retAllow},
		{"io_uring_setup", archX86_64, unix.SYS_IO_URING_SETUP, nil, nosys},
		{"io_uring_enter", archX86_64, unix.SYS_IO_URING_ENTER, nil, nosys},
		{"io_uring_register", archX86_64, unix.SYS_IO_URING_REGISTER, nil, nosys},
		{"write", archX86_64, unix.SYS_WRITE, nil, retAllow},
		{"x32 connect", archX86_64, x32Bit | unix.SYS_CONNECT, nil, nosys},
		{"x32 sendmsg", archX86_64, x32Bit | nrX32Sendmsg, nil, nosys},
		{"x32 write", archX86_64, x32Bit | unix.SYS_WRITE, nil, retAllow},
		{"i386 connect", archI386, nr32Connect, nil, retNotify},
		{"i386 bind", archI386, nr32Bind, nil, retNotify},
		{"i386 listen", archI386, nr32Listen, nil, retNotify},
		{"i386 sendto fastopen", archI386, nr32Sendto, []uint64{3, 0, 0, unix.MSG_FASTOPEN}, eop},
		{"i386 sendmsg", archI386, nr32Sendmsg, []uint64{3, 0, 0}, retAllow},
		{"i386 socketcall connect", archI386, nr32Socketcall, []uint64{scConnect, 0x1000}, retNotify},
		{"i386 socketcall listen", archI386, nr32Socketcall, []uint64{scListen, 0x1000}, retNotify},
		{"i386 socketcall sendto", archI386, nr32Socketcall, []uint64{scSendto, 0x1000}, nosys},
		{"i386 socketcall sendmsg", archI386, nr32Socketcall, []uint64{scSendmsg, 0x1000}, nosys},
		{"i386 socketcall socket", archI386, nr32Socketcall, []uint64{1, 0x1000}, retAllow},
		{"i386 io_uring_setup", archI386, 425, nil, nosys},
		{"i386 write", archI386, 4, nil, retAllow},
		{"other arch", 0xc00000b7, 203, nil, retAllow},
	} {
		if got := run(t, prog, c.arch, c.nr, c.args...); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
}

func TestRoute(t *testing.T) {
	_, cidr, _ := net.ParseCIDR("10.0.2.0/24")
	p := Policy{Inside: []*net.IPNet{cidr}, Self: net.ParseIP("10.0.2.100"),
		Ports: map[int]Published{80: {Container: 80, HostPort: 8080}}}
	for _, c := range []struct {
		ip   string
		port int
		want Route
	}{
		{"192.0.2.2", 443, Host},
		{"8.8.8.8", 53, Host},
		{"::ffff:192.0.2.2", 22, Host},
		{"10.0.2.2", 22, Stay}, // the gateway: the host's loopback only with allow_host_loopback
		{"10.0.2.3", 53, Stay},
		{"127.0.0.1", 22, Stay},
		{"127.5.5.5", 22, Stay},
		{"0.0.0.0", 22, Stay},
		{"::ffff:127.0.0.1", 22, Stay},
		{"::1", 22, Stay},
		{"2001:db8::1", 443, Stay}, // no IPv6 outside
		{"224.0.0.1", 9, Stay},
		{"255.255.255.255", 9, Stay},
		{"127.0.0.1", 80, Own},
		{"0.0.0.0", 80, Own},
		{"10.0.2.100", 80, Own},
		{"192.0.2.2", 80, Host},
	} {
		if got := p.Route(net.ParseIP(c.ip), c.port); got != c.want {
			t.Errorf("%s:%d: %v, want %v", c.ip, c.port, got, c.want)
		}
	}
	if ip, port := p.OwnTarget(80); !ip.Equal(net.IPv4(127, 0, 0, 1)) || port != 8080 {
		t.Errorf("own target %v:%d", ip, port)
	}
}

func TestParseAddr(t *testing.T) {
	b := []byte{unix.AF_INET, 0, 0x1f, 0x90, 192, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0}
	if f, ip, port, ok := parseAddr(b); !ok || f != unix.AF_INET || port != 8080 || !ip.Equal(net.ParseIP("192.0.2.2")) {
		t.Errorf("AF_INET: %v %v %v %v", f, ip, port, ok)
	}
	if _, _, _, ok := parseAddr(b[:8]); ok {
		t.Error("a short AF_INET address parsed")
	}
	if f, _, _, ok := parseAddr([]byte{unix.AF_UNSPEC, 0}); ok || f != unix.AF_UNSPEC {
		t.Error("AF_UNSPEC")
	}
}
