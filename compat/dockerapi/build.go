package dockerapi

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"

	"usandbox/lifecycle"
)

// streamMessage is one line of docker's build stream.
type streamMessage struct {
	Stream      string            `json:"stream,omitempty"`
	Aux         map[string]string `json:"aux,omitempty"`
	Error       string            `json:"error,omitempty"`
	ErrorDetail map[string]string `json:"errorDetail,omitempty"`
}

// build is POST /build: the body is the context as a tar (gzip or not),
// unpacked into a temporary directory, every name kept inside it.
func (s *Server) build(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if v := q.Get("remote"); v != "" {
		writeError(w, http.StatusBadRequest, "remote contexts are not supported: send the context as the request's body")
		return
	}
	if v := q.Get("version"); v == "2" {
		writeError(w, http.StatusBadRequest, "BuildKit (version=2) is not supported: use the classic builder (DOCKER_BUILDKIT=0)")
		return
	}
	args, err := lifecycle.ParseJSONMap(q.Get("buildargs"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "buildargs: "+err.Error())
		return
	}
	labels, err := lifecycle.ParseJSONMap(q.Get("labels"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "labels: "+err.Error())
		return
	}
	dir, err := os.MkdirTemp("", "usandbox-build-context-")
	if err != nil {
		fail(w, err)
		return
	}
	defer os.RemoveAll(dir)
	if err := untarContext(r.Body, dir); err != nil {
		writeError(w, http.StatusBadRequest, "reading the build context: "+err.Error())
		return
	}
	o := lifecycle.BuildOptions{
		Context: dir, Dockerfile: q.Get("dockerfile"), Tags: q["t"], Args: args, Labels: labels,
		Target: q.Get("target"), NoCache: boolParam(r, "nocache"), Pull: boolParam(r, "pull"),
	}
	if nm := q.Get("networkmode"); nm != "" && nm != "default" {
		o.Network = nm
	}
	if o.Dockerfile != "" {
		o.Dockerfile = path.Join(dir, path.Clean("/"+o.Dockerfile))
	}
	if err := readableInside(dir, o.Dockerfile); err != nil {
		writeError(w, http.StatusBadRequest, "reading the build context: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	send := func(m streamMessage) {
		enc.Encode(m) // a client gone: the request's context ends the build
		if flusher != nil {
			flusher.Flush()
		}
	}
	quiet := boolParam(r, "q")
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if !quiet {
				send(streamMessage{Stream: sc.Text() + "\n"})
			}
		}
		io.Copy(io.Discard, pr)
	}()
	id, err := s.e.Build(r.Context(), o, pw)
	pw.Close()
	<-done
	if err != nil {
		send(streamMessage{Error: err.Error(), ErrorDetail: map[string]string{"message": err.Error()}})
		return
	}
	send(streamMessage{Aux: map[string]string{"ID": "sha256:" + id}})
	send(streamMessage{Stream: "Successfully built " + id[:12] + "\n"})
	for _, t := range o.Tags {
		send(streamMessage{Stream: "Successfully tagged " + t + "\n"})
	}
}

// untarContext unpacks a build context into dir; os.Root keeps every
// entry (and every symlink it follows) inside dir.
func untarContext(body io.Reader, dir string) error {
	br := bufio.NewReader(body)
	var in io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer gz.Close()
		in = gz
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(in)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if name == "" {
			continue
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		mode := os.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return err
			}
			_ = root.Chmod(name, mode|0o700)
		case tar.TypeReg:
			f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			_ = root.Chtimes(name, hdr.ModTime, hdr.ModTime)
		case tar.TypeSymlink:
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: entries of type %q are not supported in a build context", hdr.Name, hdr.Typeflag)
		}
	}
}

// readableInside refuses a context whose Dockerfile (dockerfile, or the
// default names) or .dockerignore is a symlink that leads out of dir:
// the build reads them by their paths, and a host file read as the
// Dockerfile would come back in the errors, as docker's daemon, too,
// resolves them inside the context.
func readableInside(dir, dockerfile string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	names := []string{"Containerfile", "Dockerfile", ".dockerignore"}
	if dockerfile != "" {
		names = []string{strings.TrimPrefix(dockerfile, dir+"/"), ".dockerignore"}
	}
	for _, n := range names {
		// One that is not there: the build says so.
		if _, err := root.Stat(n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: not a file inside the build context (a symlink out?): %w", n, err)
		}
	}
	return nil
}

// commit is POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=.
func (s *Server) commit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ref := q.Get("container")
	if ref == "" {
		writeError(w, http.StatusBadRequest, "container is required")
		return
	}
	name := q.Get("repo")
	if name != "" && q.Get("tag") != "" {
		name += ":" + q.Get("tag")
	}
	o := lifecycle.CommitOptions{Name: name, Message: q.Get("comment"), Author: q.Get("author"), Pause: q.Get("pause") != "0" && q.Get("pause") != "false"}
	for _, c := range q["changes"] {
		for _, line := range strings.Split(c, "\n") {
			if strings.TrimSpace(line) != "" {
				o.Changes = append(o.Changes, line)
			}
		}
	}
	im, err := s.e.Commit(r.Context(), ref, o)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]string{"Id": "sha256:" + im.ID})
}

// imageImport is POST /images/create?fromSrc=-&repo=&tag=&message=&changes=:
// docker import, the archive in the body.
func (s *Server) imageImport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tmp, err := os.CreateTemp("", "usandbox-import-")
	if err != nil {
		fail(w, err)
		return
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, r.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading the archive: "+err.Error())
		return
	}
	o := lifecycle.ImportOptions{Name: q.Get("repo"), Message: q.Get("message")}
	if o.Name != "" && q.Get("tag") != "" {
		o.Name += ":" + q.Get("tag")
	}
	for _, c := range q["changes"] {
		if strings.TrimSpace(c) != "" {
			o.Changes = append(o.Changes, c)
		}
	}
	im, err := s.e.Import(r.Context(), tmp.Name(), o)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, map[string]string{"status": "sha256:" + im.ID})
}
