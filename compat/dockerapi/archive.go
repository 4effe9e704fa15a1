package dockerapi

import (
	"bufio"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"usandbox/lifecycle"
)

// The archive endpoints (docker cp) and export, on the Engine's copy
// helper: every path is resolved inside the sandbox's root.

// pathStatHeader is where docker puts a path's stat: base64 of its JSON.
const pathStatHeader = "X-Docker-Container-Path-Stat"

func setPathStat(w http.ResponseWriter, st lifecycle.PathStat) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString(b))
	return nil
}

// archiveError is docker's answer to a failed archive request.
func archiveError(w http.ResponseWriter, name, path string, err error) {
	if errors.Is(err, lifecycle.ErrNoSuchPath) {
		writeError(w, http.StatusNotFound, "Could not find the file "+path+" in container "+name)
		return
	}
	noSuch(w, name, err)
}

func (s *Server) containerArchiveStat(w http.ResponseWriter, r *http.Request) {
	name, path := mux.Vars(r)["name"], r.URL.Query().Get("path")
	if path == "" {
		writeError(w, http.StatusBadRequest, "path is required")
		return
	}
	st, err := s.e.StatPath(r.Context(), name, path)
	if err != nil {
		archiveError(w, name, path, err)
		return
	}
	if err := setPathStat(w, st); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) containerArchiveGet(w http.ResponseWriter, r *http.Request) {
	name, path := mux.Vars(r)["name"], r.URL.Query().Get("path")
	if path == "" {
		writeError(w, http.StatusBadRequest, "path is required")
		return
	}
	defer s.hold()() // a stream: the service is not idle while it lasts
	content, st, err := s.e.CopyFrom(r.Context(), name, path)
	if err != nil {
		archiveError(w, name, path, err)
		return
	}
	defer content.Close()
	if err := setPathStat(w, st); err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	// An error past this point can only cut the stream short.
	io.Copy(w, content)
}

func (s *Server) containerArchivePut(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, path := mux.Vars(r)["name"], q.Get("path")
	if path == "" {
		writeError(w, http.StatusBadRequest, "path is required")
		return
	}
	defer s.hold()()
	body, err := decompressed(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	o := lifecycle.CopyOptions{NoOverwriteDirNonDir: boolQuery(q.Get("noOverwriteDirNonDir")), CopyUIDGID: boolQuery(q.Get("copyUIDGID"))}
	if err := s.e.CopyTo(r.Context(), name, path, body, o); err != nil {
		archiveError(w, name, path, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) containerExport(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	defer s.hold()()
	content, err := s.e.Export(r.Context(), name)
	if err != nil {
		noSuch(w, name, err)
		return
	}
	defer content.Close()
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	io.Copy(w, content)
}

// boolQuery is docker's boolean query value: 1 or true.
func boolQuery(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// decompressed is the request body, gunzipped if gzip (docker takes
// gzip, bzip2 and xz; its CLI sends plain tar).
func decompressed(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}
