package bypass

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// landlockNetABI is the first Landlock ABI with network rules (Linux 6.7).
const landlockNetABI = 4

// Check says whether this kernel can run a sandbox with bypass: Landlock
// with network rules (and seccomp user notification, which is older).
func Check() error {
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return fmt.Errorf("bypass=true needs Landlock (Linux 6.7 or later, with landlock in the kernel's lsm= list): %v; use the network without bypass", errno)
	}
	if int(abi) < landlockNetABI {
		return fmt.Errorf("bypass=true needs Landlock network rules (ABI %d, Linux 6.7); this kernel has ABI %d: use the network without bypass", landlockNetABI, abi)
	}
	return nil
}

// Install puts the calling thread (and what it executes) under bypass: a
// Landlock domain that denies the thread's own TCP connect and bind, and
// the notify filter, whose listener it returns. The caller holds
// CAP_SYS_ADMIN in its user namespace or has set no_new_privs, has locked
// its OS thread, and sends the listener to the monitor before its execve
// (none of the calls it makes to do so is trapped).
func Install() (*os.File, error) {
	attr := unix.LandlockRulesetAttr{Handled_access_net: unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP}
	// Only the fields this kernel's ABI 4..7 knows (fs, net, scoped).
	size := unsafe.Offsetof(attr.Scoped) + unsafe.Sizeof(attr.Scoped)
	rs, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if errno != 0 {
		return nil, fmt.Errorf("bypass: creating the Landlock ruleset: %w", errno)
	}
	_, _, errno = unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, rs, 0, 0)
	unix.Close(int(rs))
	if errno != 0 {
		return nil, fmt.Errorf("bypass: entering the Landlock domain: %w", errno)
	}
	filter := Filter()
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	fd, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		if errors.Is(errno, unix.EBUSY) {
			return nil, fmt.Errorf("bypass: installing the filter: %w (a filter with a listener is already installed)", errno)
		}
		return nil, fmt.Errorf("bypass: installing the filter: %w", errno)
	}
	unix.CloseOnExec(int(fd))
	return os.NewFile(fd, "seccomp-listener"), nil
}
