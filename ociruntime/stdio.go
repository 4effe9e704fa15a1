package ociruntime

import (
	"errors"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// stdio is what a container's process gets as its stdin, stdout and
// stderr: the caller's, except, for a process run in the foreground
// (run and exec without --detach) without a terminal of its own, the
// caller's that are a terminal: those are pipes that the runtime copies,
// as runc does, so that the caller's terminal never is the container's
// (a process the container leaves behind would read what the user types
// next, and could change the terminal's settings). Stdio that is no
// terminal (pipes and files, what podman and containerd give) is passed
// as it is, as are the terminals of a detached process (runc's
// pass-through).
type stdio struct {
	in, out, err *os.File // the container's
	// theirs are the container's ends of the pipes, closed here once
	// the process has them.
	theirs []*os.File
	// copyIn is the pipe's end that the caller's stdin is copied to,
	// until stopW closes; input, once started, owns it and stopR.
	copyIn, stopR, stopW *os.File
	inputStarted         bool
	outputs              sync.WaitGroup
	copyOut, toOut       [2]*os.File
}

// callerStdio is the caller's stdio for a process; with foreground, the
// caller's terminals become pipes (see stdio).
func callerStdio(foreground bool) (*stdio, error) {
	s := &stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}
	if !foreground {
		return s, nil
	}
	tty := func(f *os.File) bool {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		return err == nil
	}
	fail := func(err error) (*stdio, error) {
		s.close()
		return nil, err
	}
	if tty(os.Stdin) {
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		s.in, s.copyIn = r, w
		s.theirs = append(s.theirs, r)
		if s.stopR, s.stopW, err = os.Pipe(); err != nil {
			return fail(err)
		}
	}
	for i, f := range []*os.File{os.Stdout, os.Stderr} {
		if !tty(f) {
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		s.copyOut[i], s.toOut[i] = r, f
		s.theirs = append(s.theirs, w)
		if i == 0 {
			s.out = w
		} else {
			s.err = w
		}
	}
	return s, nil
}

// started closes the container's ends here and starts the copies.
func (s *stdio) started() {
	for _, f := range s.theirs {
		f.Close()
	}
	s.theirs = nil
	if s.copyIn != nil {
		s.inputStarted = true
		go s.input()
	}
	for i, r := range s.copyOut {
		if r == nil {
			continue
		}
		s.outputs.Add(1)
		go func(r, w *os.File) {
			defer s.outputs.Done()
			io.Copy(w, r) // its end is the process's end: nothing to report to
		}(r, s.toOut[i])
	}
}

// input copies the caller's stdin to the process until it ends or
// finish stops it. It reads only when there is input and it has not been
// stopped, so that nothing the user types after the process is done is
// taken from the caller.
func (s *stdio) input() {
	defer s.copyIn.Close()
	defer s.stopR.Close()
	fds := []unix.PollFd{{Fd: int32(os.Stdin.Fd()), Events: unix.POLLIN}, {Fd: int32(s.stopR.Fd()), Events: unix.POLLIN}}
	buf := make([]byte, 32<<10)
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		n, err := unix.Read(int(os.Stdin.Fd()), buf)
		if n > 0 {
			if _, err := s.copyIn.Write(buf[:n]); err != nil {
				return // the process closed its stdin
			}
		}
		if n == 0 || err != nil && !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.EAGAIN) {
			return
		}
	}
}

// finish, once the process has exited, stops the copy of stdin and
// waits until the output pipes are drained: until every process holding
// them (the container's, or those an exec'd one left) has closed them,
// as runc does.
func (s *stdio) finish() {
	if s.stopW != nil {
		s.stopW.Close()
		s.stopW = nil
	}
	s.outputs.Wait()
	s.close()
}

// close releases what is left: on a failure before the process started,
// or after finish.
func (s *stdio) close() {
	files := append(s.theirs, s.stopW, s.copyOut[0], s.copyOut[1])
	if !s.inputStarted {
		files = append(files, s.copyIn, s.stopR)
	}
	for _, f := range files {
		if f != nil {
			f.Close() // pipes: nothing was lost that close could report
		}
	}
	s.theirs, s.stopW = nil, nil
}
