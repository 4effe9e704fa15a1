package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Load installs p on the calling thread (and on what it executes) with
// seccomp(SECCOMP_SET_MODE_FILTER). The caller has locked its OS thread
// (runtime.LockOSThread) and either set no_new_privs or holds
// CAP_SYS_ADMIN in its user namespace. An empty program installs nothing.
// Load uses no libseccomp and no cgo, so it is cheap in the sandbox's
// setup process.
func Load(p Program) error {
	if p.IsEmpty() {
		return nil
	}
	if len(p.Filter) > maxInstructions {
		return fmt.Errorf("seccomp: program of %d instructions is longer than the kernel's %d", len(p.Filter), maxInstructions)
	}
	if p.Flags&(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER|unix.SECCOMP_FILTER_FLAG_TSYNC) != 0 {
		// A listener fd would need a caller to serve it; TSYNC would
		// reach threads the caller did not lock.
		return fmt.Errorf("seccomp: filter flags %#x are not supported", p.Flags)
	}
	filter := make([]unix.SockFilter, len(p.Filter))
	for i, in := range p.Filter {
		filter[i] = unix.SockFilter{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(p.Flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		if errors.Is(errno, unix.EACCES) {
			return fmt.Errorf("seccomp: installing the filter: %w (set no_new_privs first, or hold CAP_SYS_ADMIN)", errno)
		}
		return fmt.Errorf("seccomp: installing the filter: %w", errno)
	}
	return nil
}
