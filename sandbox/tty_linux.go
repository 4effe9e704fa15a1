package sandbox

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// terminalSize is the size of the caller's terminal on f, if f is one.
func terminalSize(f *os.File) (cols, rows uint16, ok bool) {
	if f == nil {
		return 0, 0, false
	}
	c, err := console.ConsoleFromFile(f)
	if err != nil {
		return 0, 0, false
	}
	ws, err := c.Size()
	if err != nil {
		return 0, 0, false
	}
	return ws.Width, ws.Height, true
}

// ptyRelay connects the caller's terminal (or pipes) to a sandbox's pty:
// the caller's terminal goes raw, the sandbox's pty follows its size, and
// the output is copied until the last slave closes. Close undoes it all.
type ptyRelay struct {
	master *os.File
	// user is the caller's terminal on stdin, if it is one.
	user  console.Console
	winch chan os.Signal
	out   sync.WaitGroup
	// resizing is followResize's loop, ended before the master closes.
	resizing sync.WaitGroup
	done     chan struct{}
}

// WindowSize is a terminal's size in characters.
type WindowSize struct{ Cols, Rows uint16 }

// relayPTY starts relaying between the caller's streams and the
// sandbox's pty master (taking it over). With interactive, stdin is
// copied in; without, the command reads nothing.
// The output goes to out (s.Stdout, or a copy of it into the log).
func relayPTY(master *os.File, s Streams, out io.Writer) (*ptyRelay, error) {
	r := &ptyRelay{master: master, done: make(chan struct{})}
	if s.Stdin != nil {
		if c, err := console.ConsoleFromFile(s.Stdin); err == nil {
			if err := c.SetRaw(); err != nil {
				master.Close()
				return nil, fmt.Errorf("making the terminal raw: %w", err)
			}
			r.user = c
		}
	}
	if s.Interactive && s.Stdin != nil {
		// Ends with stdin's end, or with an error once the master is
		// closed: nothing to report either way.
		go func() { _, _ = io.Copy(master, s.Stdin) }()
	}
	r.out.Add(1)
	go func() {
		defer r.out.Done()
		// Ends with EIO when the last slave closes: the normal end.
		_, _ = io.Copy(out, master)
	}()
	if r.user != nil {
		r.followSize()
	}
	return r, nil
}

// followSize gives the pty the caller's terminal size now and after every
// SIGWINCH. It listens before it copies the size the first time, so that
// a resize between the sandbox's start and now is not lost.
func (r *ptyRelay) followSize() {
	r.winch = make(chan os.Signal, 1)
	signal.Notify(r.winch, unix.SIGWINCH)
	r.winch <- unix.SIGWINCH
	go func() {
		for {
			select {
			case <-r.winch:
			case <-r.done:
				return
			}
			ws, err := r.user.Size()
			if err != nil {
				continue
			}
			// The pty gone (the sandbox ended), there is nothing to
			// resize: not worth reporting.
			_ = unix.IoctlSetWinsize(int(r.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Height, Col: ws.Width})
		}
	}()
}

// followResize gives the pty every size sent on sizes until Close: the
// sizes of a terminal that is not ours (an API client's).
func (r *ptyRelay) followResize(sizes <-chan WindowSize) {
	r.resizing.Add(1)
	go func() {
		defer r.resizing.Done()
		for {
			select {
			case ws := <-sizes:
				// Control, not Fd: Fd would make the master blocking.
				// A pty gone (the command ended) has no size to set:
				// not worth reporting.
				sc, err := r.master.SyscallConn()
				if err != nil {
					continue
				}
				_ = sc.Control(func(fd uintptr) {
					_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Rows, Col: ws.Cols})
				})
			case <-r.done:
				return
			}
		}
	}()
}

// Close waits for the output to be copied, stops following the size and
// gives the caller's terminal back its mode.
func (r *ptyRelay) Close() error {
	if r == nil {
		return nil
	}
	r.out.Wait()
	if r.winch != nil {
		signal.Stop(r.winch)
	}
	close(r.done)
	r.resizing.Wait()
	r.master.Close()
	if r.user != nil {
		if err := r.user.Reset(); err != nil {
			return fmt.Errorf("restoring the terminal: %w", err)
		}
	}
	return nil
}
