package bypass

import "golang.org/x/sys/unix"

// Audit architectures and system call numbers the filter knows.
const (
	archX86_64 = 0xc000003e
	archI386   = 0x40000003

	x32Bit = 0x40000000

	nrConnect   = 42
	nrSendto    = 44
	nrSendmsg   = 46
	nrBind      = 49
	nrListen    = 50
	nrSendmmsg  = 307
	nrUringFrom = 425 // io_uring_setup, _enter, _register: 425..427
	nrUringTo   = 427

	nrX32Sendmsg  = 518
	nrX32Sendmmsg = 538

	nr32Socketcall = 102
	nr32Sendmmsg   = 345
	nr32Bind       = 361
	nr32Connect    = 362
	nr32Listen     = 363
	nr32Sendto     = 369
	nr32Sendmsg    = 370

	// socketcall(2)'s call numbers.
	scBind     = 2
	scConnect  = 3
	scListen   = 4
	scSendto   = 11
	scSendmsg  = 16
	scSendmmsg = 20

	msgFastOpen = 0x20000000

	retAllow  = unix.SECCOMP_RET_ALLOW
	retNotify = unix.SECCOMP_RET_USER_NOTIF
)

func retErrno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
)

func offArg(i int) uint32 { return 16 + 8*uint32(i) } // the low 32 bits (little-endian)

func ld(off uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
}
func jeq(k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, Jf: jf, K: k}
}
func jset(k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, Jt: jt, Jf: jf, K: k}
}
func ret(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }

// block is a list of instructions that ends in a return.
type block []unix.SockFilter

// onNr: if the number is nr, return r; else go on. (The accumulator
// holds the number.)
func onNr(nr, r uint32) block { return block{jeq(nr, 0, 1), ret(r)} }

// flagged: if the number is nr and the flags in argument arg have
// MSG_FASTOPEN, refuse with EOPNOTSUPP; any other flags allow. It loads
// the argument, so it must end its block's tests: it returns either way.
func flagged(nr uint32, arg int) block {
	return block{
		jeq(nr, 0, 4),
		ld(offArg(arg)),
		jset(msgFastOpen, 0, 1),
		ret(retErrno(unix.EOPNOTSUPP)),
		ret(retAllow),
	}
}

// Filter is the seccomp program of a sandbox with bypass (see the
// package doc). The sandbox's own profile is a second filter; the
// kernel applies the strictest answer of the two.
func Filter() []unix.SockFilter {
	// x86_64: connect, bind, listen to the handler; Fast Open sends and
	// io_uring refused.
	x64 := block{ld(offNr)}
	x64 = append(x64, onNr(nrConnect, retNotify)...)
	x64 = append(x64, onNr(nrBind, retNotify)...)
	x64 = append(x64, onNr(nrListen, retNotify)...)
	for nr := uint32(nrUringFrom); nr <= nrUringTo; nr++ {
		x64 = append(x64, onNr(nr, retErrno(unix.ENOSYS))...)
	}
	// x32 (the same arch, numbers with bit 30): none of its socket
	// calls.
	for _, nr := range []uint32{nrConnect, nrBind, nrListen, nrSendto, nrX32Sendmsg, nrX32Sendmmsg, nrUringFrom, nrUringFrom + 1, nrUringTo} {
		x64 = append(x64, onNr(x32Bit|nr, retErrno(unix.ENOSYS))...)
	}
	x64 = append(x64, flagged(nrSendto, 3)...)
	x64 = append(x64, flagged(nrSendmsg, 2)...)
	x64 = append(x64, flagged(nrSendmmsg, 3)...)
	x64 = append(x64, ret(retAllow))

	// i386 on x86_64.
	i386 := block{ld(offNr)}
	i386 = append(i386, onNr(nr32Connect, retNotify)...)
	i386 = append(i386, onNr(nr32Bind, retNotify)...)
	i386 = append(i386, onNr(nr32Listen, retNotify)...)
	for nr := uint32(nrUringFrom); nr <= nrUringTo; nr++ {
		i386 = append(i386, onNr(nr, retErrno(unix.ENOSYS))...)
	}
	// socketcall: the call is argument 0, its arguments are in memory.
	sc := block{
		ld(offArg(0)),
	}
	sc = append(sc, onNr(scConnect, retNotify)...)
	sc = append(sc, onNr(scBind, retNotify)...)
	sc = append(sc, onNr(scListen, retNotify)...)
	sc = append(sc, onNr(scSendto, retErrno(unix.ENOSYS))...)
	sc = append(sc, onNr(scSendmsg, retErrno(unix.ENOSYS))...)
	sc = append(sc, onNr(scSendmmsg, retErrno(unix.ENOSYS))...)
	sc = append(sc, ret(retAllow))
	i386 = append(i386, jeq(nr32Socketcall, 0, uint8(len(sc))))
	i386 = append(i386, sc...)
	i386 = append(i386, flagged(nr32Sendto, 3)...)
	i386 = append(i386, flagged(nr32Sendmsg, 2)...)
	i386 = append(i386, flagged(nr32Sendmmsg, 3)...)
	i386 = append(i386, ret(retAllow))

	prog := block{ld(offArch), jeq(archX86_64, 0, uint8(len(x64)))}
	prog = append(prog, x64...)
	prog = append(prog, jeq(archI386, 0, uint8(len(i386))))
	prog = append(prog, i386...)
	// Any other architecture: the sandbox's profile decides.
	prog = append(prog, ret(retAllow))
	return prog
}
