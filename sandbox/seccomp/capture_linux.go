//go:build seccomp && cgo

package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's struct seccomp_notif and struct seccomp_notif_resp
// (<linux/seccomp.h>); golang.org/x/sys/unix has their ioctls but not
// their types.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  struct {
		Nr                 int32
		Arch               uint32
		InstructionPointer uint64
		Args               [6]uint64
	}
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// sockFprog is struct sock_fprog with the filter as an address in this
// process, read rather than dereferenced.
type sockFprog struct {
	Len    uint16
	Filter uintptr
}

// captureFilter runs install, which is to install a seccomp filter on the
// calling thread, and returns the filter it tried to install instead of
// letting it be installed. See the package documentation.
func captureFilter(install func() error) (Program, error) {
	type result struct {
		prog Program
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// Deliberately never unlocked: this thread ends up with
		// no_new_privs and the interception filter, so the Go runtime
		// must end it with this goroutine instead of reusing it.
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread is never ended (the runtime parks it
			// forever) and its seccomp state is what
			// /proc/PID/status shows for the process: keep it
			// clean. Holding it here makes the retry run on
			// another thread.
			defer runtime.UnlockOSThread()
			prog, err := captureFilter(install)
			done <- result{prog, err}
			return
		}
		prog, err := captureOnThisThread(install)
		done <- result{prog, err}
	}()
	r := <-done
	return r.prog, r.err
}

// captured is what the listener saw.
type captured struct {
	prog  Program
	found bool
	err   error
}

func captureOnThisThread(install func() error) (Program, error) {
	tid := unix.Gettid()
	// A signal handled on this thread while it waits for the listener
	// would cancel the notification and fail runc's install; the kernel
	// sends process-wide signals (SIGCHLD, SIGWINCH...) to another
	// thread when this one blocks them. The thread is never reused, so
	// the mask is not restored.
	all := unix.Sigset_t{}
	for i := range all.Val {
		all.Val[i] = ^all.Val[i]
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &all, nil); err != nil {
		return Program{}, fmt.Errorf("seccomp: blocking signals on the compile thread: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return Program{}, fmt.Errorf("seccomp: setting no_new_privs on the compile thread: %w", err)
	}
	listener, err := installInterceptor()
	if err != nil {
		return Program{}, err
	}
	defer unix.Close(listener)
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return Program{}, fmt.Errorf("seccomp: eventfd: %w", err)
	}
	defer unix.Close(stop)
	got := make(chan captured, 1)
	go func() { got <- serve(listener, stop, tid) }()

	installErr := install()

	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	if _, err := unix.Write(stop, one[:]); err != nil {
		// Without the stop the listener would wait forever.
		panic(fmt.Sprintf("seccomp: writing to an eventfd: %v", err))
	}
	c := <-got
	switch {
	case c.err != nil:
		return Program{}, c.err
	case !c.found && installErr != nil:
		return Program{}, fmt.Errorf("seccomp: compiling the filter: %w", installErr)
	case !c.found:
		return Program{}, errors.New("seccomp: runc's compiler installed no filter")
	}
	return c.prog, nil
}

// installInterceptor installs, on the calling thread, a filter that sends
// seccomp(SECCOMP_SET_MODE_FILTER, ...) and prctl(PR_SET_SECCOMP, ...) to
// the listener it returns, and allows everything else. Only native
// system-call numbers are matched: this process makes no other kind.
func installInterceptor() (int, error) {
	arg0 := uint32(16) // offsetof(struct seccomp_data, args[0])
	if binary.NativeEndian.Uint16([]byte{0, 1}) == 1 {
		arg0 += 4 // big-endian: the low half comes second
	}
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	filter := []unix.SockFilter{
		/* 0 */ {Code: ld, K: 0}, // nr
		/* 1 */ {Code: jeq, K: unix.SYS_SECCOMP, Jt: 1, Jf: 0},
		/* 2 */ {Code: jeq, K: unix.SYS_PRCTL, Jt: 2, Jf: 5},
		/* 3 */ {Code: ld, K: arg0},
		/* 4 */ {Code: jeq, K: unix.SECCOMP_SET_MODE_FILTER, Jt: 2, Jf: 3},
		/* 5 */ {Code: ld, K: arg0},
		/* 6 */ {Code: jeq, K: unix.PR_SET_SECCOMP, Jt: 0, Jf: 1},
		/* 7 */ {Code: ret, K: unix.SECCOMP_RET_USER_NOTIF},
		/* 8 */ {Code: ret, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	fd, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		if errno == unix.EBUSY {
			return -1, fmt.Errorf("seccomp: intercepting the compiled filter: %w (this process already runs under a seccomp filter with a user-space listener)", errno)
		}
		return -1, fmt.Errorf("seccomp: intercepting the compiled filter (needs Linux ≥ 5.5): %w", errno)
	}
	return int(fd), nil
}

// serve answers the listener until stop is readable. It copies the first
// real filter out of the calling thread and fails the call that would
// install it.
func serve(listener, stop, tid int) captured {
	var c captured
	fds := []unix.PollFd{{Fd: int32(listener), Events: unix.POLLIN}, {Fd: int32(stop), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			c.err = fmt.Errorf("seccomp: poll: %w", err)
			return c
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			if fds[1].Revents != 0 {
				return c
			}
			if fds[0].Revents != 0 {
				// Hung up: no thread is left under the filter.
				fds[0].Fd = -1
			}
			continue
		}
		var n seccompNotif
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n))); errno != 0 {
			if errno == unix.EINTR || errno == unix.ENOENT {
				// ENOENT: the call went away before we took it.
				continue
			}
			c.err = fmt.Errorf("seccomp: receiving a notification: %w", errno)
			return c
		}
		resp := seccompNotifResp{ID: n.ID, Error: -int32(unix.ECANCELED)}
		switch {
		case n.Data.Args[2] == 0:
			// libseccomp probes the kernel's filter flags with a
			// NULL program (expecting EFAULT); nothing is installed,
			// so let the kernel answer.
			resp.Error, resp.Flags = 0, unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
		case int(n.Pid) != tid:
			c.err = fmt.Errorf("seccomp: unexpected filter installation by thread %d", n.Pid)
		case c.found:
			c.err = errors.New("seccomp: runc's compiler installed more than one filter")
		default:
			c.prog, c.err = readFilter(uintptr(n.Data.Args[2]))
			if n.Data.Nr == unix.SYS_SECCOMP {
				c.prog.Flags = uint32(n.Data.Args[1])
			}
			c.found = c.err == nil
		}
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp))); errno != 0 && errno != unix.ENOENT {
			c.err = fmt.Errorf("seccomp: answering a notification: %w", errno)
			return c
		}
	}
}

// readFilter copies the struct sock_fprog at addr, and the program it
// points to, out of this process's memory. The thread that passed addr
// is blocked in the system call, so the memory is alive; it is read with
// process_vm_readv so that a bad address is an error, not a crash.
func readFilter(addr uintptr) (Program, error) {
	var fp sockFprog
	if err := readMemory(addr, unsafe.Slice((*byte)(unsafe.Pointer(&fp)), unsafe.Sizeof(fp))); err != nil {
		return Program{}, err
	}
	if fp.Len == 0 || fp.Len > maxInstructions {
		return Program{}, fmt.Errorf("seccomp: intercepted a filter of %d instructions", fp.Len)
	}
	raw := make([]unix.SockFilter, fp.Len)
	if err := readMemory(fp.Filter, unsafe.Slice((*byte)(unsafe.Pointer(&raw[0])), len(raw)*unix.SizeofSockFilter)); err != nil {
		return Program{}, err
	}
	prog := Program{Filter: make([]Instruction, len(raw))}
	for i, in := range raw {
		prog.Filter[i] = Instruction{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return prog, nil
}

func readMemory(addr uintptr, into []byte) error {
	local := []unix.Iovec{{Base: &into[0]}}
	local[0].SetLen(len(into))
	remote := []unix.RemoteIovec{{Base: addr, Len: len(into)}}
	n, err := unix.ProcessVMReadv(os.Getpid(), local, remote, 0)
	if err != nil {
		return fmt.Errorf("seccomp: reading the intercepted filter: %w", err)
	}
	if n != len(into) {
		return fmt.Errorf("seccomp: reading the intercepted filter: short read (%d of %d bytes)", n, len(into))
	}
	return nil
}
