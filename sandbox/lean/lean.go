// Package lean turns a detached sandbox's monitor into a small C loop
// once the sandbox runs (see lean.c): it execs this binary again in role
// role.LeanMonitor, with its configuration as one frame on its stdin
// (internal/proto's lean protocol), and a C constructor takes over before
// the Go runtime starts. The monitor runs on the host, outside the
// sandbox's namespaces. (The sandbox's init is C from the start: package
// nsexec.) Importing the package installs the constructor.
package lean

//go:generate go run ../../internal/proto/gen sandbox/lean/proto_gen.h

// #cgo CFLAGS: -Wall -O2
import "C"

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"usandbox/internal/proto"
	"usandbox/internal/role"
	"usandbox/internal/wire"
)

// Config is what the C loop watches.
type Config struct {
	// Init and Keeper are the pids of the sandbox's init and of its
	// keeper (0: none), both the caller's children.
	Init, Keeper int
	// Stdout and Stderr are the command's output (fds, -1 if unused).
	Stdout, Stderr int
	// Log is the log file's fd: LogName in the working directory,
	// rotated to RotatedName there once it would pass LogMax bytes.
	Log                  int
	LogMax               int64
	LogName, RotatedName string
}

// keep clears close-on-exec so that fd survives the exec.
func keep(fds ...int) error {
	for _, fd := range fds {
		if fd < 0 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("lean: %w", err)
		}
	}
	return nil
}

// Monitor replaces the calling monitor with the C log-and-wait loop on c.
// env goes to the finish step (see FinishCode). The fds in keepFDs stay
// open: they hold the sandbox's lock and lifeline until the end. The
// monitor's stdin becomes the pipe the configuration comes on (its own is
// /dev/null, of no use to it). It returns only on failure.
func Monitor(c Config, env []string, keepFDs ...int) error {
	m := proto.Monitor{
		Kind: proto.KindMonitor, Init: int32(c.Init), Keeper: int32(c.Keeper),
		Stdout: int32(c.Stdout), Stderr: int32(c.Stderr), Log: int32(c.Log), LogMax: c.LogMax,
		LogName: c.LogName, RotatedName: c.RotatedName,
	}
	if err := proto.CheckStrings(m); err != nil {
		return fmt.Errorf("lean: %w", err)
	}
	frame, err := wire.Encode(m)
	if err != nil {
		return fmt.Errorf("lean: %w", err)
	}
	if len(frame) > 4+proto.MaxCFrame {
		return fmt.Errorf("lean: configuration of %d bytes: the C loop takes %d", len(frame)-4, proto.MaxCFrame)
	}
	if err := keep(append(keepFDs, c.Stdout, c.Stderr, c.Log)...); err != nil {
		return err
	}
	if err := configFD(frame); err != nil {
		return fmt.Errorf("lean: passing the configuration: %w", err)
	}
	env = append(env[:len(env):len(env)], role.LeanMonitor.EnvEntry())
	return syscall.Exec("/proc/self/exe", []string{"usandbox-monitor"}, env)
}

// configFD puts frame in a pipe whose read end is proto.LeanConfigFD,
// open across exec. The pipe holds it whole (it is far below the pipe's
// capacity), so the write end closes at once.
func configFD(frame []byte) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	defer func() {
		if p[0] >= 0 {
			unix.Close(p[0])
		}
	}()
	n, err := unix.Write(p[1], frame)
	if cerr := unix.Close(p[1]); err == nil {
		err = cerr
	}
	if err == nil && n != len(frame) {
		err = fmt.Errorf("short write (%d of %d bytes)", n, len(frame))
	}
	if err != nil {
		return err
	}
	if p[0] == proto.LeanConfigFD {
		// stdin was closed and the pipe took its number: keep it
		// across exec, and do not close it.
		p[0] = -1
		return keep(proto.LeanConfigFD)
	}
	return unix.Dup3(p[0], proto.LeanConfigFD, 0)
}

// FinishCode is the init's exit status handed to the finish step (its
// first argument).
func FinishCode(args []string) (int, error) {
	if len(args) < 1 {
		return 0, fmt.Errorf("lean: no exit status")
	}
	var code int
	if _, err := fmt.Sscan(args[0], &code); err != nil {
		return 0, fmt.Errorf("lean: %w", err)
	}
	return code, nil
}
