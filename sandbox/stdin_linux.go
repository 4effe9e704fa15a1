package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A detached sandbox has no stdin, unless it was made with OpenStdin (the
// Engine API's docker run -i). Its monitor then reads a FIFO in the
// sandbox's directory, as podman's conmon reads its attach socket: what
// each attacher writes there is the command's stdin (through the pipe of
// the relay, or the pty master with a tty), and, with StdinOnce, the first
// attacher's end is the stdin's end. A sandbox with a tty has a second
// FIFO, ctl, on which "ROWS COLS" lines resize its pty. Both are the
// user's, mode 0600, in the sandbox's 0700 directory; the sandbox's
// processes never hold them.
const (
	stdinFifo = "stdin"
	ctlFifo   = "ctl"
)

// StdinPath is the FIFO attachers write the stdin of the sandbox in dir to.
func StdinPath(dir string) string { return filepath.Join(dir, stdinFifo) }

// CtlPath is the FIFO that resizes the pty of the sandbox in dir.
func CtlPath(dir string) string { return filepath.Join(dir, ctlFifo) }

// makeFifo makes the FIFO at path, unless it is there from a run before.
func makeFifo(path string) error {
	if err := unix.Mkfifo(path, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("making %s: %w", filepath.Base(path), err)
	}
	return nil
}

// fifoStdin reads what attachers write into the FIFO at path, one after
// the other (the open waits for the next one).
type fifoStdin struct {
	path string
	once bool
	f    *os.File
}

func (s *fifoStdin) Read(p []byte) (int, error) {
	for {
		if s.f == nil {
			// O_NOFOLLOW: the sandbox's directory is the user's, but a
			// FIFO is all that may be opened here.
			f, err := os.OpenFile(s.path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
			if err != nil {
				return 0, err
			}
			s.f = f
		}
		n, err := s.f.Read(p)
		if n > 0 {
			return n, nil
		}
		s.f.Close()
		s.f = nil
		if err != nil && err != io.EOF {
			return 0, err
		}
		if s.once {
			return 0, io.EOF
		}
	}
}

// followCtl resizes master by the lines written to the ctl FIFO at path,
// until the FIFO cannot be read (the monitor is ending).
func followCtl(path string, master *os.File) {
	// Read and write: it never reads end of file between writers.
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOFOLLOW, 0)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rows, cols, ok := parseSize(sc.Text())
		if !ok {
			continue
		}
		// Through the File, never its number: closed (the sandbox
		// ended), it is refused, not another file resized.
		rc, err := master.SyscallConn()
		if err != nil {
			return
		}
		if rc.Control(func(fd uintptr) {
			// The pty gone, there is nothing to resize.
			_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
		}) != nil {
			return
		}
	}
}

func parseSize(line string) (rows, cols uint16, ok bool) {
	f := strings.Fields(line)
	if len(f) != 2 {
		return 0, 0, false
	}
	r, err1 := strconv.ParseUint(f[0], 10, 16)
	c, err2 := strconv.ParseUint(f[1], 10, 16)
	return uint16(r), uint16(c), err1 == nil && err2 == nil && r > 0 && c > 0
}

// Resize asks the monitor of the running sandbox in dir to give its pty
// rows and cols: ErrNoTerminal if it has none, ErrNotStarted if no
// monitor reads the FIFO.
func Resize(dir string, rows, cols uint16) error {
	fd, err := unix.Open(CtlPath(dir), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return ErrNoTerminal
	case errors.Is(err, unix.ENXIO):
		return ErrNotStarted
	case err != nil:
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(fmt.Sprintf("%d %d\n", rows, cols)))
	return err
}

// OpenStdin opens the stdin FIFO of the sandbox in dir for writing, once
// its monitor reads it: ErrNotStarted until then.
func OpenStdin(dir string) (*os.File, error) {
	fd, err := unix.Open(StdinPath(dir), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENXIO) {
		return nil, ErrNotStarted
	}
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "stdin"), nil
}

// Errors of Resize and OpenStdin.
var (
	ErrNoTerminal = errors.New("the sandbox has no terminal")
	ErrNotStarted = errors.New("the sandbox's monitor does not read it (yet)")
)
