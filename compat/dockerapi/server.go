// Package dockerapi serves the Docker Engine API over a socket (usandbox
// system service) for the docker CLI, docker compose and testcontainers.
// It is only a front end: every handler calls package lifecycle's Engine,
// and package compat/docker converts what comes back into the API's
// types (github.com/moby/moby/api). Sandboxes made through it are the
// CLI's sandboxes: they outlive the service, which exits when idle.
package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"usandbox/lifecycle"
)

// APIVersion is the API version served (docker 20.10's); MinAPIVersion
// the oldest a client may ask for.
const (
	APIVersion    = "1.41"
	MinAPIVersion = "1.24"
)

// Server answers the API for one store.
type Server struct {
	e       *lifecycle.Engine
	version string // usandbox's own version
	router  *mux.Router
	// held counts what keeps Serve from its idle exit besides open
	// connections (a hijacked one is no longer net/http's): streams and
	// running execs (hold). Serve re-arms its idle timer on kick.
	heldMu sync.Mutex
	held   int
	kick   chan struct{}
	execs  execTable
}

// New returns a Server of e's store; version is usandbox's.
func New(e *lifecycle.Engine, version string) *Server {
	s := &Server{e: e, version: version, kick: make(chan struct{}, 1)}
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusNotFound, "page not found")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	})
	// Every route twice: unversioned, and under /vX.Y.
	for _, prefix := range []*mux.Router{r.PathPrefix("/v{version:[0-9]+\\.[0-9]+}").Subrouter(), r} {
		s.routes(prefix)
	}
	r.Use(s.checkVersion)
	s.router = r
	return s
}

func (s *Server) routes(r *mux.Router) {
	r.HandleFunc("/_ping", s.ping).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/version", s.versionInfo).Methods(http.MethodGet)
	r.HandleFunc("/info", s.info).Methods(http.MethodGet)
	r.HandleFunc("/containers/json", s.containerList).Methods(http.MethodGet)
	r.HandleFunc("/containers/{name:.*}/json", s.containerInspect).Methods(http.MethodGet)
	r.HandleFunc("/events", s.events).Methods(http.MethodGet)
	// Not yet: a clear 501 rather than docker's "page not found".
	for path, what := range map[string]string{
		"/containers/{name:.*}/stats":  "stats through the API",
		"/containers/{name:.*}/update": "update",
	} {
		r.HandleFunc(path, notYet(what))
	}
	r.HandleFunc("/build", s.build).Methods(http.MethodPost)
	r.HandleFunc("/commit", s.commit).Methods(http.MethodPost)
	// containers
	r.HandleFunc("/containers/create", s.containerCreate).Methods(http.MethodPost)
	r.HandleFunc("/containers/prune", s.containerPrune).Methods(http.MethodPost)
	r.HandleFunc("/containers/{name:.*}/start", s.containerStart).Methods(http.MethodPost)
	r.HandleFunc("/containers/{name:.*}/wait", s.containerWait).Methods(http.MethodPost)
	r.HandleFunc("/containers/{name:.*}/attach", s.containerAttach).Methods(http.MethodPost)
	r.HandleFunc("/containers/{name:.*}/stop", s.containerStop).Methods(http.MethodPost)
	r.HandleFunc("/containers/{name:.*}/restart", s.containerRestart).Methods(http.MethodPost)
	r.HandleFunc("/containers/{name:.*}/kill", s.containerKill).Methods(http.MethodPost)
	r.HandleFunc("/containers/{name:.*}/rename", s.containerRename).Methods(http.MethodPost)
	r.HandleFunc("/containers/{name:.*}/pause", s.containerPause).Methods(http.MethodPost)
	r.HandleFunc("/containers/{name:.*}/unpause", s.containerPause).Methods(http.MethodPost)
	r.HandleFunc("/containers/{name:.*}/logs", s.containerLogs).Methods(http.MethodGet)
	r.HandleFunc("/containers/{name:.*}/changes", s.containerChanges).Methods(http.MethodGet)
	r.HandleFunc("/containers/{name:.*}/top", s.containerTop).Methods(http.MethodGet)
	r.HandleFunc("/containers/{name:.*}/archive", s.containerArchiveStat).Methods(http.MethodHead)
	r.HandleFunc("/containers/{name:.*}/archive", s.containerArchiveGet).Methods(http.MethodGet)
	r.HandleFunc("/containers/{name:.*}/archive", s.containerArchivePut).Methods(http.MethodPut)
	r.HandleFunc("/containers/{name:.*}/export", s.containerExport).Methods(http.MethodGet)
	r.HandleFunc("/containers/{name:.*}/resize", s.containerResize).Methods(http.MethodPost)
	r.HandleFunc("/containers/{name:.*}", s.containerRemove).Methods(http.MethodDelete)
	r.HandleFunc("/images/json", s.imageList).Methods(http.MethodGet)
	r.HandleFunc("/images/{name:.*}/json", s.imageInspect).Methods(http.MethodGet)
	// exec
	r.HandleFunc("/containers/{name:.*}/exec", s.execCreate).Methods(http.MethodPost)
	r.HandleFunc("/exec/{id}/start", s.execStart).Methods(http.MethodPost)
	r.HandleFunc("/exec/{id}/resize", s.execResize).Methods(http.MethodPost)
	r.HandleFunc("/exec/{id}/json", s.execInspect).Methods(http.MethodGet)
	// images, networks, volumes
	s.objectRoutes(r)
}

// ServeHTTP makes the Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// checkVersion refuses a client that asks for an API newer than ours, as
// docker does, and says which version is served.
func (s *Server) checkVersion(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", APIVersion)
		w.Header().Set("Server", "usandbox/"+s.version)
		w.Header().Set("Ostype", "linux")
		if v := mux.Vars(r)["version"]; v != "" {
			if newer(v, APIVersion) {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", v, APIVersion))
				return
			}
			if newer(MinAPIVersion, v) {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinAPIVersion))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// newer reports whether API version a is later than b ("1.41" > "1.9").
func newer(a, b string) bool {
	pa, pb := strings.SplitN(a, ".", 2), strings.SplitN(b, ".", 2)
	for i := 0; i < 2; i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x > y
		}
	}
	return false
}

// writeJSON writes v with status 200.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v) // the client that went away has nothing to be told
}

// writeError writes docker's error shape.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// fail writes err with the status of its kind (lifecycle.Kind): 404 not
// found, 409 conflict, 304 not running or already running, 400 invalid,
// 500 the rest.
func fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch lifecycle.Kind(err) {
	case lifecycle.ErrNotFound:
		status = http.StatusNotFound
	case lifecycle.ErrConflict:
		status = http.StatusConflict
	case lifecycle.ErrNotRunning, lifecycle.ErrAlreadyRunning:
		status = http.StatusNotModified
	case lifecycle.ErrInvalid:
		status = http.StatusBadRequest
	case lifecycle.ErrUnauthorized:
		status = http.StatusUnauthorized
	}
	writeError(w, status, err.Error())
}

// hold keeps the service from its idle exit until release is called
// (once).
func (s *Server) hold() (release func()) {
	s.heldMu.Lock()
	s.held++
	s.heldMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.heldMu.Lock()
			s.held--
			s.heldMu.Unlock()
			s.poke()
		})
	}
}

// poke tells Serve to look at its idle timer again.
func (s *Server) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// busy reports whether something holds the service (hold).
func (s *Server) busy() bool {
	s.heldMu.Lock()
	defer s.heldMu.Unlock()
	return s.held > 0
}

// Serve answers on l until ctx ends, or until no connection has been
// open, no request in flight and no stream or exec running (hold) for
// idle (0: never), as podman's system service does. It returns nil then.
func (s *Server) Serve(ctx context.Context, l net.Listener, idle time.Duration) error {
	var mu sync.Mutex
	open := 0
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		ConnState: func(c net.Conn, st http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			switch st {
			case http.StateNew:
				open++
			case http.StateClosed, http.StateHijacked:
				open--
			}
			s.poke()
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	var timer <-chan time.Time
	arm := func() {
		timer = nil
		mu.Lock()
		busy := open > 0
		mu.Unlock()
		if idle > 0 && !busy && !s.busy() {
			timer = time.After(idle)
		}
	}
	arm()
	trim := time.AfterFunc(time.Hour, debug.FreeOSMemory)
	defer trim.Stop()
	for {
		select {
		case err := <-errc:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-s.kick:
			arm()
			// A second after the last change of connections, what the
			// requests allocated goes back to the system: an idle
			// service stays small, even with --time 0.
			trim.Reset(time.Second)
		case <-timer:
			mu.Lock()
			busy := open > 0
			mu.Unlock()
			if !busy && !s.busy() {
				return srv.Close()
			}
			arm()
		case <-ctx.Done():
			return srv.Close()
		}
	}
}

// logf reports on the service's stderr what a client cannot be told (a
// stream already under way).
func (s *Server) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "usandbox service: "+format+"\n", a...)
}

// notYet answers 501 for what usandbox's API does not do yet.
func notYet(what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotImplemented, "usandbox does not implement "+what+" yet")
	}
}
