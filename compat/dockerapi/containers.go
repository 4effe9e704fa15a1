package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"usandbox/lifecycle"
	"usandbox/sandbox"
)

// The container endpoints: each is one Engine call, its parameters read
// as docker reads them, its errors in docker's words and statuses.

// noSuch answers a lookup that failed: docker's 404 "No such container".
func noSuch(w http.ResponseWriter, name string, err error) {
	if lifecycle.Kind(err) == lifecycle.ErrNotFound {
		writeError(w, http.StatusNotFound, "No such container: "+name)
		return
	}
	fail(w, err)
}

// answer ends a container operation: 204 if err is nil, 304 if it is of
// kind same (already started, already stopped), else noSuch's answer.
func answer(w http.ResponseWriter, name string, err error, same error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case same != nil && lifecycle.Kind(err) == same:
		w.WriteHeader(http.StatusNotModified)
	default:
		noSuch(w, name, err)
	}
}

func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request) {
	var req container.CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON in the request body: "+err.Error())
		return
	}
	o, err := createOptions(r.URL.Query().Get("name"), &req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	warnings := []string{}
	sb, err := s.e.Create(r.Context(), o, func(m string) { warnings = append(warnings, m) })
	if err != nil {
		if errors.Is(err, lifecycle.ErrImageUnknown) {
			// The docker CLI pulls on this answer, then creates again.
			writeError(w, http.StatusNotFound, "No such image: "+o.ImageRef)
			return
		}
		fail(w, err)
		return
	}
	// Created, not started: the lock goes, as when usandbox create
	// exits; start takes it again.
	if l := sb.HeldLock(); l != nil {
		l.Close()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(container.CreateResponse{ID: sb.ID, Warnings: warnings})
}

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	if r.URL.Query().Get("detachKeys") != "" {
		writeError(w, http.StatusBadRequest, "usandbox does not support detachKeys")
		return
	}
	_, err := s.e.Start(r.Context(), name)
	answer(w, name, err, lifecycle.ErrAlreadyRunning)
}

func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	cond, err := lifecycle.ParseWaitCondition(r.URL.Query().Get("condition"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := s.e.Lookup(r.Context(), name); err != nil {
		noSuch(w, name, err)
		return
	}
	// The headers at once, as docker: clients wait for them before they
	// start the container.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	code, err := s.e.WaitFor(r.Context(), name, cond)
	resp := container.WaitResponse{StatusCode: int64(code)}
	if err != nil {
		resp.Error = &container.WaitExitError{Message: err.Error()}
	}
	json.NewEncoder(w).Encode(resp)
}

// grace reads ?t= (seconds); none is the sandbox's own.
func grace(r *http.Request) (time.Duration, error) {
	t := r.URL.Query().Get("t")
	if t == "" {
		return lifecycle.StopTimeoutGrace, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil {
		return 0, fmt.Errorf("invalid t %q: give seconds", t)
	}
	if n < 0 {
		return lifecycle.StopTimeoutGrace, nil
	}
	return time.Duration(n) * time.Second, nil
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	g, err := grace(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.URL.Query().Get("signal") != "" {
		writeError(w, http.StatusBadRequest, "usandbox does not support stop's signal: the sandbox's stop signal is set at create (StopSignal)")
		return
	}
	answer(w, name, s.e.Stop(r.Context(), name, g), lifecycle.ErrNotRunning)
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	g, err := grace(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	_, err = s.e.Restart(r.Context(), name, g)
	answer(w, name, err, nil)
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	sig := lifecycle.SIGKILL
	if v := r.URL.Query().Get("signal"); v != "" {
		var err error
		if sig, err = lifecycle.ParseSignal(v); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid signal %q", v))
			return
		}
	}
	if err := s.e.Kill(r.Context(), name, sig); err != nil {
		if lifecycle.Kind(err) == lifecycle.ErrNotRunning {
			writeError(w, http.StatusConflict, fmt.Sprintf("Cannot kill container: %s: container is not running", name))
			return
		}
		noSuch(w, name, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) containerRename(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	to := r.URL.Query().Get("name")
	if to == "" {
		writeError(w, http.StatusBadRequest, "rename needs ?name=NEWNAME")
		return
	}
	answer(w, name, s.e.Rename(r.Context(), name, strings.TrimPrefix(to, "/")), nil)
}

func (s *Server) containerPause(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	op := s.e.Pause
	if strings.HasSuffix(r.URL.Path, "/unpause") {
		op = s.e.Unpause
	}
	answer(w, name, op(r.Context(), name), nil)
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	if boolParam(r, "link") {
		writeError(w, http.StatusBadRequest, "usandbox does not support links")
		return
	}
	o := lifecycle.RemoveOptions{Force: boolParam(r, "force"), Volumes: boolParam(r, "v")}
	if err := s.e.Remove(r.Context(), name, o); err != nil {
		if lifecycle.Kind(err) == lifecycle.ErrConflict {
			writeError(w, http.StatusConflict, fmt.Sprintf("You cannot remove a running container %s. Stop the container before attempting removal or force remove", name))
			return
		}
		noSuch(w, name, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) containerPrune(w http.ResponseWriter, r *http.Request) {
	if fs, err := filters(r); err != nil || len(fs) > 0 {
		writeError(w, http.StatusBadRequest, "usandbox's container prune takes no filters")
		return
	}
	ids, size, err := s.e.PruneSize(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	if ids == nil {
		ids = []string{}
	}
	writeJSON(w, container.PruneReport{ContainersDeleted: ids, SpaceReclaimed: uint64(size)})
}

func (s *Server) containerChanges(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	cs, err := s.e.Diff(r.Context(), name)
	if err != nil {
		noSuch(w, name, err)
		return
	}
	out := []container.FilesystemChange{}
	for _, c := range cs {
		k := container.ChangeModify
		switch c.Kind {
		case "A":
			k = container.ChangeAdd
		case "D":
			k = container.ChangeDelete
		}
		out = append(out, container.FilesystemChange{Path: c.Path, Kind: k})
	}
	writeJSON(w, out)
}

func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	var desc []string
	if a := r.URL.Query().Get("ps_args"); a != "" {
		desc = strings.Fields(a)
	}
	titles, rows, err := s.e.Top(r.Context(), name, desc)
	if err != nil {
		noSuch(w, name, err)
		return
	}
	writeJSON(w, container.TopResponse{Titles: titles, Processes: rows})
}

// streams reads ?stdout=&stderr= (docker's logs and attach).
func streams(r *http.Request) (stdout, stderr bool) {
	return boolParam(r, "stdout"), boolParam(r, "stderr")
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	q := r.URL.Query()
	stdout, stderr := streams(r)
	if !stdout && !stderr {
		writeError(w, http.StatusBadRequest, "Bad parameters: you must choose at least one stream")
		return
	}
	o := lifecycle.LogOptions{Tail: -1, Follow: boolParam(r, "follow")}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid tail %q: give a number or all", t))
			return
		}
		o.Tail = n
	}
	var err error
	if o.Since, err = apiTime(q.Get("since")); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if o.Until, err = apiTime(q.Get("until")); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sb, err := s.e.Lookup(r.Context(), name)
	if err != nil {
		noSuch(w, name, err)
		return
	}
	timestamps := boolParam(r, "timestamps")
	started := false
	out := &outputWriter{w: w, tty: sb.Spec.Process.Terminal}
	err = s.e.Logs(r.Context(), sb.ID, o, func(en lifecycle.LogEntry) {
		if !started {
			out.header()
			started = true
		}
		if (en.Stream == "stderr" && !stderr) || (en.Stream != "stderr" && !stdout) {
			return
		}
		text := en.Text
		if !en.Partial {
			text += "\n"
		}
		if timestamps {
			text = en.Time.UTC().Format(time.RFC3339Nano) + " " + text
		}
		out.write(en.Stream, text)
	})
	if err != nil && !started {
		noSuch(w, name, err)
		return
	}
	if !started {
		out.header()
	}
}

// apiTime reads docker's since/until: UNIX seconds, with a fraction.
func apiTime(v string) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time %q: give UNIX seconds", v)
	}
	var ns int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, fmt.Errorf("invalid time %q: give UNIX seconds", v)
		}
	}
	return time.Unix(s, ns), nil
}

// outputWriter writes a sandbox's output to a client: raw with a tty,
// else in docker's multiplexed frames (muxWriter).
type outputWriter struct {
	w              io.Writer
	tty            bool
	err            error
	stdout, stderr *muxWriter
}

func (o *outputWriter) header() {
	if hw, ok := o.w.(http.ResponseWriter); ok {
		hw.Header().Set("Content-Type", contentType(o.tty))
		hw.WriteHeader(http.StatusOK)
	}
	o.flush()
}

func (o *outputWriter) flush() {
	if f, ok := o.w.(http.Flusher); ok {
		f.Flush()
	}
}

// write sends text of stream ("stdout" or "stderr").
func (o *outputWriter) write(stream, text string) {
	if o.err != nil {
		return
	}
	var w io.Writer = o.w
	if !o.tty {
		if o.stdout == nil {
			o.stdout, o.stderr = newMux(o.w)
		}
		w = o.stdout
		if stream == "stderr" {
			w = o.stderr
		}
	}
	_, o.err = io.WriteString(w, text)
	o.flush()
}

func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	sb, err := s.e.Lookup(r.Context(), name)
	if err != nil {
		noSuch(w, name, err)
		return
	}
	if r.URL.Query().Get("detachKeys") != "" {
		writeError(w, http.StatusBadRequest, "usandbox does not support detachKeys")
		return
	}
	stdout, stderr := streams(r)
	tty := sb.Spec.Process.Terminal
	conn, in, err := s.hijack(w, r, contentType(tty))
	if err != nil {
		s.logf("attach %s: %v", sandbox.ShortID(sb.ID), err)
		return
	}
	defer conn.Close()
	ctx, cancel := contextOf(r)
	defer cancel()
	if boolParam(r, "stdin") && sb.OpenStdin {
		// As docker, stdin=1 attaches a stdin only if the container
		// opened one. It ends with the client's end (or the run's).
		go func() {
			if err := s.e.AttachInput(ctx, sb.ID, in); err != nil && ctx.Err() == nil {
				s.logf("attach %s: stdin: %v", sandbox.ShortID(sb.ID), err)
			}
		}()
	}
	out := &outputWriter{w: conn, tty: tty}
	err = s.e.AttachOutput(ctx, sb.ID, lifecycle.OutputOptions{Logs: boolParam(r, "logs"), Stream: boolParam(r, "stream")}, func(en lifecycle.LogEntry) {
		if (en.Stream == "stderr" && !stderr) || (en.Stream != "stderr" && !stdout) {
			return
		}
		text := en.Text
		if !en.Partial {
			text += "\n"
		}
		out.write(en.Stream, text)
		if out.err != nil {
			cancel() // the client went away
		}
	})
	if err != nil && out.err == nil && ctx.Err() == nil {
		// The stream has begun: the error can only be told in it.
		out.write("stderr", "usandbox: "+err.Error()+"\n")
	}
}

// contextOf is the context of a stream taken over: the request's values,
// cancelled by the handler only (the HTTP server no longer watches the
// connection).
func contextOf(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithCancel(context.WithoutCancel(r.Context()))
}

func (s *Server) containerResize(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	if _, err := s.e.Lookup(r.Context(), name); err != nil {
		noSuch(w, name, err)
		return
	}
	rows, err1 := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	cols, err2 := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if err1 != nil || err2 != nil {
		writeError(w, http.StatusBadRequest, "resize needs ?h=ROWS&w=COLUMNS")
		return
	}
	if err := s.e.Resize(r.Context(), name, uint16(rows), uint16(cols)); err != nil {
		if lifecycle.Kind(err) == lifecycle.ErrNotRunning {
			writeError(w, http.StatusConflict, fmt.Sprintf("Container %s is not running", name))
			return
		}
		noSuch(w, name, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// eventMessage is docker's events.Message with the fields docker clients
// before API 1.22 read (status, id, from), which docker still sends.
type eventMessage struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fs, err := filters(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	o := lifecycle.EventOptions{Follow: true}
	if o.Filters, err = lifecycle.ParseEventFilters(fs); err != nil {
		fail(w, err)
		return
	}
	if o.Since, err = apiTime(q.Get("since")); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if o.Until, err = apiTime(q.Get("until")); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if q.Get("since") == "" {
		// docker sends the past only when asked (since; 0 is all).
		o.Since = time.Now()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	enc := json.NewEncoder(w)
	defer s.hold()() // a stream: the service is not idle while it lasts
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	s.e.Events(ctx, o, func(ev lifecycle.Event) {
		m := eventMessage{Message: events.Message{
			Type: events.Type(ev.Type), Action: events.Action(ev.Action),
			Actor: events.Actor{ID: ev.ID, Attributes: ev.Attributes}, Scope: "local",
			Time: ev.Time / 1e9, TimeNano: ev.Time,
		}}
		if ev.Type == "container" {
			m.Status, m.ID, m.From = ev.Action, ev.ID, ev.Attributes["image"]
		}
		if enc.Encode(m) != nil {
			cancel()
			return
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	})
}
