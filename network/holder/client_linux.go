package holder

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"usandbox/internal/role"
	"usandbox/internal/wire"
	"usandbox/nsexec"
)

// ErrConflict is wrapped by a refusal about names or addresses (the
// caller's input), not a failure of the holder.
var ErrConflict = errors.New("conflict")

// MapIDs maps a new user namespace: the networks' (newuidmap and
// newgidmap of the store's ID range, as a sandbox's).
type MapIDs func(pid int) error

// Session is one sandbox's join in progress: reserved, then attached.
type Session struct {
	conn *os.File
	// Holder is a pidfd of the holder: the sandbox's user namespace is
	// made in its (nsexec.Config.ParentUserNS).
	Holder *os.File
	// Addresses are the sandbox's, one per network, in order.
	Addresses []Address
}

// Reserve asks the holder of the networks in dir (starting it, with
// mapIDs, if none runs) for req's networks: their names, their
// addresses. The reservation lasts until Attach, or until the caller
// closes the session or exits.
func Reserve(dir string, mapIDs MapIDs, req Request) (*Session, error) {
	req.Kind = KindReserve
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return nil, fmt.Errorf("networks: %w", err)
	}
	defer unix.Close(self)
	var rep Reply
	var fds []int
	conn, err := withHolder(dir, mapIDs, func(conn *os.File) error {
		if err := wire.Send(conn, req, self); err != nil {
			return err
		}
		fds, err = wire.Recv(conn, &rep)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := replyErr(rep, KindReserved); err != nil {
		closeFds(fds)
		conn.Close()
		return nil, err
	}
	if len(fds) != 1 {
		closeFds(fds)
		conn.Close()
		return nil, errors.New("networks: the holder sent no pidfd")
	}
	return &Session{conn: conn, Holder: os.NewFile(uintptr(fds[0]), "holder"), Addresses: rep.Addresses}, nil
}

// Attach plugs the sandbox in: netns is its network namespace, init a
// pidfd of its init (the member lives as long as it). The session is
// done.
func (s *Session) Attach(id string, keeperPid, initPid int, netns, init *os.File) error {
	defer s.Close()
	req := Request{Kind: KindAttach, ID: id, KeeperPid: keeperPid, InitPid: initPid}
	if err := wire.Send(s.conn, req, int(netns.Fd()), int(init.Fd())); err != nil {
		return fmt.Errorf("networks: %w", err)
	}
	var rep Reply
	fds, err := wire.Recv(s.conn, &rep)
	closeFds(fds)
	if err != nil {
		return fmt.Errorf("networks: the holder: %w", err)
	}
	return replyErr(rep, KindAttached)
}

// Close ends the session; a reservation not attached is dropped.
func (s *Session) Close() error {
	if s.Holder != nil {
		s.Holder.Close()
		s.Holder = nil
	}
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// Reap removes what a killed holder left in dir (its socket, pid and
// members files, the lock and dir themselves), under the lock, if no
// holder answers there; a running holder's are left alone.
func Reap(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, SocketName)); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return fmt.Errorf("networks: %w", err)
	}
	defer lock.Close()
	if conn, err := dial(dir); err == nil {
		conn.Close()
		return nil // one runs
	}
	names := []string{SocketName, StateName, MembersName}
	if nets, _ := readMembers(dir); len(liveMembers(nets)) > 0 {
		// The next holder adopts them.
		names = names[:2]
	}
	for _, name := range names {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("networks: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, MembersName)); err == nil {
		return nil // the lock and the directory stay with it
	}
	if st, err := os.Stat(filepath.Join(dir, LogName)); err == nil && st.Size() == 0 {
		os.Remove(filepath.Join(dir, LogName))
	}
	os.Remove(filepath.Join(dir, LockName))
	os.Remove(dir) // empty unless a log tells of trouble
	return nil
}

// Ask sends one request (Connect, Disconnect, Status) to a running
// holder. ok is false when none runs: no network has a member.
func Ask(dir string, req Request) (rep Reply, ok bool, err error) {
	conn, err := dial(dir)
	if err != nil {
		return rep, false, Reap(dir)
	}
	defer conn.Close()
	if err := wire.Send(conn, req); err != nil {
		return rep, false, fmt.Errorf("networks: %w", err)
	}
	fds, err := wire.Recv(conn, &rep)
	closeFds(fds)
	if err != nil {
		return rep, false, fmt.Errorf("networks: the holder: %w", err)
	}
	return rep, true, replyErr(rep, rep.Kind)
}

func replyErr(rep Reply, want string) error {
	if rep.Kind == KindError {
		if rep.Conflict {
			return fmt.Errorf("%w: %s", ErrConflict, rep.Error)
		}
		return errors.New(rep.Error)
	}
	if rep.Kind != want {
		return fmt.Errorf("networks: the holder answered %q, want %q", rep.Kind, want)
	}
	return nil
}

func closeFds(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// withHolder runs round (one request) on a connection to the holder,
// under the networks lock, starting a holder if none answers; the
// connection stays open for the caller.
func withHolder(dir string, mapIDs MapIDs, round func(*os.File) error) (*os.File, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("networks: %w", err)
	}
	defer lock.Close()
	conn, err := dial(dir)
	if err != nil {
		// None runs (or it died): a new one. Nobody else starts one
		// while the lock is held. A killed one's live members are
		// adopted by the new one, made in their user namespace's parent.
		os.Remove(filepath.Join(dir, SocketName))
		var parent *os.File
		nets, _ := readMembers(dir) // unreadable: nothing to adopt
		live := liveMembers(nets)
		var perr error
		for _, m := range live {
			if parent, perr = parentUserNS(m); perr == nil {
				break
			}
		}
		if len(live) > 0 && parent == nil {
			fmt.Fprintf(os.Stderr, "usandbox: the networks' members from before their holder was killed are not adopted: %v\n", perr)
		}
		if parent == nil {
			os.Remove(filepath.Join(dir, MembersName))
		}
		serr := start(dir, mapIDs, parent)
		if parent != nil {
			parent.Close()
		}
		if serr != nil {
			return nil, serr
		}
		if conn, err = dial(dir); err != nil {
			return nil, fmt.Errorf("networks: the new holder does not answer: %w", err)
		}
	}
	if err := round(conn); err != nil {
		conn.Close()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("networks: the holder went away: try again")
		}
		return nil, fmt.Errorf("networks: %w", err)
	}
	return conn, nil
}

// lockDir takes the networks lock in dir (made if missing). An exiting
// holder removes the lock file (and dir) while it holds it: a lock
// taken on a file that is no longer dir's lock is dropped and taken
// again on the new one.
func lockDir(dir string) (*os.File, error) {
	for {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		path := filepath.Join(dir, LockName)
		lock, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if errors.Is(err, os.ErrNotExist) {
			continue // dir went meanwhile
		}
		if err != nil {
			return nil, err
		}
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
			lock.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		var held, now unix.Stat_t
		if unix.Fstat(int(lock.Fd()), &held) == nil && unix.Stat(path, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return lock, nil
		}
		lock.Close()
	}
}

// dial connects to the holder's socket.
func dial(dir string) (*os.File, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: filepath.Join(dir, SocketName), Net: "unix"})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.File()
}

// start starts a holder in a new user namespace mapped by mapIDs, or in
// parent (a killed holder's: it adopts the members left), and waits until
// it listens. Its output goes to holder.log in dir.
func start(dir string, mapIDs MapIDs, parent *os.File) error {
	log, err := os.OpenFile(filepath.Join(dir, LogName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("networks: %w", err)
	}
	defer log.Close()
	cfg := nsexec.Config{
		Role:   role.NetHolder,
		Args:   []string{"usandbox-netholder", dir},
		Env:    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Flags:  unix.CLONE_NEWUSER,
		MapIDs: mapIDs,
		Stdout: log, Stderr: log,
	}
	if parent != nil {
		cfg.Join = parent
		cfg.Args = append(cfg.Args, adoptFlag)
	}
	child, err := nsexec.Start(cfg)
	if err != nil {
		return fmt.Errorf("networks: starting the holder: %w", err)
	}
	var ready readyMsg
	done := make(chan error, 1)
	go func() { done <- wire.Read(child.Conn, &ready) }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		err = errors.New("it did not answer in 10s")
	}
	if err == nil && !ready.Ready {
		err = errors.New(ready.Error)
	}
	if err != nil {
		child.Signal(unix.SIGKILL)
		child.Wait()
		return fmt.Errorf("networks: starting the holder: %v (see %s)", err, log.Name())
	}
	return child.Release()
}
