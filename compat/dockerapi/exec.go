package dockerapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/moby/moby/api/types/container"

	"usandbox/lifecycle"
	"usandbox/sandbox"
)

// Exec instances are docker's two-step exec: create (the command, kept
// here in memory), then start (run it, its streams on the hijacked
// connection), inspect (its exit code) and resize (its pty). They are
// the service's alone: a service that exits forgets them, as dockerd's
// restart does.

// execForget is how long an exec is kept that was never started, or
// that ended: a client inspects its exit code just after the end.
const execForget = 10 * time.Minute

// execFailed is the exit code recorded for an exec that could not run
// (usandbox's own failure, as the CLI's 125).
const execFailed = 125

// execInstance is one exec. Its fields past mu change as it runs.
type execInstance struct {
	id          string
	containerID string
	cfg         container.ExecCreateRequest
	env         []string
	created     time.Time
	// resize carries the pty's sizes to lifecycle (ExecOptions.Resize);
	// it holds the latest size not yet applied.
	resize chan lifecycle.WindowSize

	mu       sync.Mutex
	started  bool
	running  bool
	pid      int // the command's host pid, once known
	ended    time.Time
	exitCode *int
}

// setSize queues a size for the pty, replacing one not yet applied.
func (x *execInstance) setSize(ws lifecycle.WindowSize) {
	x.mu.Lock()
	defer x.mu.Unlock()
	select {
	case <-x.resize:
	default:
	}
	x.resize <- ws // the buffer has room: only setSize sends, under mu
}

// execTable holds the server's exec instances.
type execTable struct {
	mu sync.Mutex
	m  map[string]*execInstance
}

func (t *execTable) add(x *execInstance) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(time.Now())
	if t.m == nil {
		t.m = map[string]*execInstance{}
	}
	t.m[x.id] = x
}

func (t *execTable) get(id string) (*execInstance, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(time.Now())
	x, ok := t.m[id]
	return x, ok
}

// pruneLocked forgets the execs never started or ended execForget ago.
func (t *execTable) pruneLocked(now time.Time) {
	for id, x := range t.m {
		x.mu.Lock()
		stale := (!x.started && now.Sub(x.created) > execForget) ||
			(!x.ended.IsZero() && now.Sub(x.ended) > execForget)
		x.mu.Unlock()
		if stale {
			delete(t.m, id)
		}
	}
}

func newExecID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// activeContainer is the running sandbox name, or docker's answer why
// not (written to w; ok false).
func (s *Server) activeContainer(w http.ResponseWriter, r *http.Request, name string) (*lifecycle.Sandbox, bool) {
	sb, err := s.e.Inspect(r.Context(), name)
	if err != nil {
		if lifecycle.Kind(err) == lifecycle.ErrNotFound {
			writeError(w, http.StatusNotFound, "No such container: "+name)
			return nil, false
		}
		fail(w, err)
		return nil, false
	}
	if !sb.State.Running {
		writeError(w, http.StatusConflict, fmt.Sprintf("Container %s is not running", sb.ID))
		return nil, false
	}
	if sb.State.Paused {
		writeError(w, http.StatusConflict, fmt.Sprintf("Container %s is paused, unpause the container before exec", sb.ID))
		return nil, false
	}
	return sb, true
}

// execCreate: POST /containers/{name}/exec.
func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) {
	var cfg container.ExecCreateRequest
	if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil {
		writeError(w, http.StatusBadRequest, "invalid exec configuration: "+err.Error())
		return
	}
	switch {
	case len(cfg.Cmd) == 0:
		writeError(w, http.StatusBadRequest, "No exec command specified")
		return
	case cfg.DetachKeys != "":
		writeError(w, http.StatusBadRequest, "detach keys are not supported by usandbox: an exec's stream ends with its command")
		return
	case cfg.Privileged:
		writeError(w, http.StatusBadRequest, "privileged exec is not supported by usandbox: an exec has its sandbox's privileges")
		return
	}
	// Docker's client resolves KEY without a value from its own
	// environment; one it could not resolve is not set.
	env, err := sandbox.ParseEnv(cfg.Env, func(string) (string, bool) { return "", false })
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sb, ok := s.activeContainer(w, r, mux.Vars(r)["name"])
	if !ok {
		return
	}
	id, err := newExecID()
	if err != nil {
		fail(w, err)
		return
	}
	x := &execInstance{
		id: id, containerID: sb.ID, cfg: cfg, env: env, created: time.Now(),
		resize: make(chan lifecycle.WindowSize, 1),
	}
	if cs := cfg.ConsoleSize; cs != nil && cfg.Tty {
		if err := checkSize(cs[0], cs[1]); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		x.setSize(lifecycle.WindowSize{Rows: uint16(cs[0]), Cols: uint16(cs[1])})
	}
	s.execs.add(x)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(container.ExecCreateResponse{ID: id})
}

func checkSize(h, w uint) error {
	if h > 0xffff || w > 0xffff {
		return fmt.Errorf("terminal size %dx%d is past the most a terminal has (65535)", w, h)
	}
	return nil
}

func (s *Server) execByID(w http.ResponseWriter, r *http.Request) (*execInstance, bool) {
	id := mux.Vars(r)["id"]
	x, ok := s.execs.get(id)
	if !ok {
		writeError(w, http.StatusNotFound, "No such exec instance: "+id)
	}
	return x, ok
}

// execStart: POST /exec/{id}/start. Attached, it holds the connection
// (hijack) until the command ends; detached, it answers at once.
func (s *Server) execStart(w http.ResponseWriter, r *http.Request) {
	x, ok := s.execByID(w, r)
	if !ok {
		return
	}
	var req container.ExecStartRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "invalid exec start request: "+err.Error())
		return
	}
	if cs := req.ConsoleSize; cs != nil && x.cfg.Tty {
		if err := checkSize(cs[0], cs[1]); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if _, ok := s.activeContainer(w, r, x.containerID); !ok {
		return
	}
	x.mu.Lock()
	switch {
	case x.exitCode != nil:
		x.mu.Unlock()
		writeError(w, http.StatusConflict, fmt.Sprintf("Error: Exec command %s has already run", x.id))
		return
	case x.started:
		x.mu.Unlock()
		writeError(w, http.StatusConflict, fmt.Sprintf("Error: Exec command %s is already running", x.id))
		return
	}
	x.started, x.running = true, true
	x.mu.Unlock()
	if cs := req.ConsoleSize; cs != nil && x.cfg.Tty {
		x.setSize(lifecycle.WindowSize{Rows: uint16(cs[0]), Cols: uint16(cs[1])})
	}
	// Held from here: a detached exec keeps the service as a stream
	// does.
	release := s.hold()
	if req.Detach {
		go func() {
			defer release()
			s.runExec(x, nil, io.Discard, io.Discard)
		}()
		w.WriteHeader(http.StatusOK)
		return
	}
	defer release()
	conn, in, err := s.hijack(w, r, contentType(x.cfg.Tty))
	if err != nil {
		x.finish(execFailed)
		return // nothing can be written to w any more; the client sees the connection end
	}
	defer conn.Close()
	var stdout, stderr io.Writer = conn, conn
	if !x.cfg.Tty {
		stdout, stderr = newMux(conn)
	}
	if !x.cfg.AttachStdout {
		stdout = io.Discard
	}
	if !x.cfg.AttachStderr {
		stderr = io.Discard
	}
	var stdin io.Reader
	if x.cfg.AttachStdin {
		stdin = in
	}
	s.runExec(x, stdin, stdout, stderr)
}

// finish records the exec's end.
func (x *execInstance) finish(code int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.running = false
	x.ended = time.Now()
	x.exitCode = &code
}

// runExec runs x's command with stdin (nil: none; read until its end)
// and its output copied to stdout and stderr, and records its exit
// code. What usandbox could not do is written to stderr (stdout with a
// tty: the client reads one stream).
func (s *Server) runExec(x *execInstance, stdin io.Reader, stdout, stderr io.Writer) {
	code, err := s.execStreams(x, stdin, stdout, stderr)
	if err != nil {
		msgTo := stderr
		if x.cfg.Tty {
			msgTo = stdout
		}
		var ee *sandbox.ExitError
		if errors.As(err, &ee) {
			code = ee.Code
			if ee.Msg != "" {
				fmt.Fprintf(msgTo, "usandbox: %s\n", ee.Msg)
			}
		} else {
			code = execFailed
			fmt.Fprintf(msgTo, "usandbox: %v\n", err)
		}
	}
	x.finish(code)
}

// execStreams connects the command's stdio (files: lifecycle passes
// them on) to stdin, stdout and stderr through pipes, and runs it.
func (s *Server) execStreams(x *execInstance, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, err
	}
	var copies sync.WaitGroup
	for _, c := range []struct {
		r *os.File
		w io.Writer
	}{{outR, stdout}, {errR, stderr}} {
		copies.Add(1)
		go func() {
			defer copies.Done()
			defer c.r.Close()
			if _, err := io.Copy(c.w, c.r); err != nil {
				// The client went away: the command is not stopped for
				// it (docker's), nor blocked on a full pipe.
				_, _ = io.Copy(io.Discard, c.r)
			}
		}()
	}
	streams := lifecycle.Streams{Stdout: outW, Stderr: errW, NoSigProxy: true}
	if stdin != nil {
		inR, inW, err := os.Pipe()
		if err != nil {
			outW.Close()
			errW.Close()
			copies.Wait()
			return 0, err
		}
		// Ends with the client's half-close, or when the connection
		// closes after the command's end. inR is read by lifecycle's
		// relay until the command ends: closed after Exec.
		go func() {
			_, _ = io.Copy(inW, stdin) // an error is the end of stdin too
			inW.Close()
		}()
		defer inR.Close()
		streams.Stdin, streams.Interactive = inR, true
	}
	code, err := s.e.Exec(context.Background(), x.containerID, lifecycle.ExecOptions{
		Args: x.cfg.Cmd, Env: x.env, User: x.cfg.User, Workdir: x.cfg.WorkingDir, TTY: x.cfg.Tty,
		Streams: streams, Resize: x.resize,
		Started: func(pid int) {
			x.mu.Lock()
			x.pid = pid
			x.mu.Unlock()
		},
	})
	// Exec has copied all output into the pipes: close them, then wait
	// for the copies to drain them.
	outW.Close()
	errW.Close()
	copies.Wait()
	return code, err
}

// execResize: POST /exec/{id}/resize?h=&w=.
func (s *Server) execResize(w http.ResponseWriter, r *http.Request) {
	x, ok := s.execByID(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	h, err := strconv.ParseUint(q.Get("h"), 10, 16)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid terminal height %q: a number from 0 to 65535", q.Get("h")))
		return
	}
	wd, err := strconv.ParseUint(q.Get("w"), 10, 16)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid terminal width %q: a number from 0 to 65535", q.Get("w")))
		return
	}
	if !x.cfg.Tty {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("exec %s has no terminal to resize (it was created without Tty)", x.id))
		return
	}
	x.mu.Lock()
	ended := x.exitCode != nil
	x.mu.Unlock()
	if ended {
		writeError(w, http.StatusConflict, fmt.Sprintf("exec %s is not running", x.id))
		return
	}
	// Before the start, the size waits for the pty (docker's waits too).
	x.setSize(lifecycle.WindowSize{Rows: uint16(h), Cols: uint16(wd)})
	w.WriteHeader(http.StatusOK)
}

// execInspect: GET /exec/{id}/json.
func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) {
	x, ok := s.execByID(w, r)
	if !ok {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	priv := false
	var code *int
	if x.exitCode != nil {
		c := *x.exitCode
		code = &c
	}
	writeJSON(w, container.ExecInspectResponse{
		ID: x.id, Running: x.running, ExitCode: code,
		ProcessConfig: &container.ExecProcessConfig{
			Tty: x.cfg.Tty, Entrypoint: x.cfg.Cmd[0], Arguments: append([]string{}, x.cfg.Cmd[1:]...),
			Privileged: &priv, User: x.cfg.User,
		},
		OpenStdin: x.cfg.AttachStdin, OpenStdout: x.cfg.AttachStdout, OpenStderr: x.cfg.AttachStderr,
		CanRemove: x.exitCode != nil, ContainerID: x.containerID, Pid: x.pid,
	})
}
