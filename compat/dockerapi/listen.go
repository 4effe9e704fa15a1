package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ListenAndServe serves on uri (see listen) until idle (Serve), SIGINT
// or SIGTERM, and removes the socket file it made.
func (s *Server) ListenAndServe(ctx context.Context, uri string, idle time.Duration) error {
	l, where, err := listen(uri)
	if err != nil {
		return err
	}
	defer l.Close()
	if u, ok := l.(*net.UnixListener); ok && where != "" {
		u.SetUnlinkOnClose(false)
		defer os.Remove(where)
	}
	ctx, stop := signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM)
	defer stop()
	return s.Serve(ctx, l, idle)
}

// listen is the socket to serve: the one systemd passed
// (LISTEN_FDS, socket activation), else the URI's, else the default
// unix socket $XDG_RUNTIME_DIR/usandbox/usandbox.sock. where is the
// socket file this process made (to remove at exit), if any.
func listen(uri string) (l net.Listener, where string, err error) {
	if pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID")); pid == os.Getpid() {
		if n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS")); n >= 1 {
			os.Unsetenv("LISTEN_PID")
			os.Unsetenv("LISTEN_FDS")
			os.Unsetenv("LISTEN_FDNAMES")
			f := os.NewFile(3, "listen-fd")
			l, err := net.FileListener(f)
			f.Close()
			if err != nil {
				return nil, "", fmt.Errorf("the socket systemd passed (LISTEN_FDS): %w", err)
			}
			return l, "", nil
		}
	}
	switch {
	case uri == "":
		dir := os.Getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			return nil, "", errors.New("no XDG_RUNTIME_DIR for the default socket: give unix://PATH")
		}
		uri = "unix://" + filepath.Join(dir, "usandbox", "usandbox.sock")
	case strings.HasPrefix(uri, "tcp://"):
		addr := strings.TrimPrefix(uri, "tcp://")
		fmt.Fprintf(os.Stderr, "usandbox: warning: %s has no authentication: anyone who can connect to it runs sandboxes as you\n", uri)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, "", fmt.Errorf("listening on %s: %w", uri, err)
		}
		return l, "", nil
	case !strings.HasPrefix(uri, "unix://"):
		return nil, "", fmt.Errorf("unsupported URI %q: use unix://PATH or tcp://127.0.0.1:PORT", uri)
	}
	path := strings.TrimPrefix(uri, "unix://")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", err
	}
	// A socket left by a service that was killed: nobody answers on it.
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, "", fmt.Errorf("a service already answers on %s: stop it, or give another URI", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, "", err
	}
	old := unix.Umask(0o177) // the socket is the user's alone: 0600
	ul, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, "", fmt.Errorf("listening on %s: %w", path, err)
	}
	return ul, path, nil
}
