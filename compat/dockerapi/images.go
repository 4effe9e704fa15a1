package dockerapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"

	"usandbox/compat/docker"
	"usandbox/lifecycle"
)

// objectRoutes are the images', networks', volumes' and system df's
// routes. The fixed paths come before /images/{name:.*}, which would
// take them.
func (s *Server) objectRoutes(r *mux.Router) {
	r.HandleFunc("/images/create", s.imageCreate).Methods(http.MethodPost)
	r.HandleFunc("/images/prune", s.imagePrune).Methods(http.MethodPost)
	r.HandleFunc("/images/load", s.imageLoad).Methods(http.MethodPost)
	r.HandleFunc("/images/get", s.imageSave).Methods(http.MethodGet)
	r.HandleFunc("/images/{name:.*}/get", s.imageSave).Methods(http.MethodGet)
	r.HandleFunc("/images/{name:.*}/tag", s.imageTag).Methods(http.MethodPost)
	r.HandleFunc("/images/{name:.*}/push", s.imagePush).Methods(http.MethodPost)
	r.HandleFunc("/images/{name:.*}", s.imageRemove).Methods(http.MethodDelete)
	r.HandleFunc("/system/df", s.systemDF).Methods(http.MethodGet)
	r.HandleFunc("/auth", s.auth).Methods(http.MethodPost)

	r.HandleFunc("/networks", s.networkList).Methods(http.MethodGet)
	r.HandleFunc("/networks/create", s.networkCreate).Methods(http.MethodPost)
	r.HandleFunc("/networks/prune", s.networkPrune).Methods(http.MethodPost)
	r.HandleFunc("/networks/{id}/connect", s.networkConnect).Methods(http.MethodPost)
	r.HandleFunc("/networks/{id}/disconnect", s.networkDisconnect).Methods(http.MethodPost)
	r.HandleFunc("/networks/{id}", s.networkInspect).Methods(http.MethodGet)
	r.HandleFunc("/networks/{id}", s.networkRemove).Methods(http.MethodDelete)

	r.HandleFunc("/volumes", s.volumeList).Methods(http.MethodGet)
	r.HandleFunc("/volumes/create", s.volumeCreate).Methods(http.MethodPost)
	r.HandleFunc("/volumes/prune", s.volumePrune).Methods(http.MethodPost)
	r.HandleFunc("/volumes/{name}", s.volumeInspect).Methods(http.MethodGet)
	r.HandleFunc("/volumes/{name}", s.volumeRemove).Methods(http.MethodDelete)
}

// nonNil is s, or an empty list: docker writes [] where a list is empty.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func imageFail(w http.ResponseWriter, name string, err error) {
	if lifecycle.Kind(err) == lifecycle.ErrNotFound {
		writeError(w, http.StatusNotFound, "No such image: "+name)
		return
	}
	fail(w, err)
}

// registryAuth reads the credentials sent with the request (docker's
// X-Registry-Auth: base64url JSON of username/password, an "auth"
// USER:PASS in base64, or a token), nil for none (docker sends {} then).
func registryAuth(r *http.Request) (*lifecycle.RegistryAuth, error) {
	h := r.Header.Get("X-Registry-Auth")
	if h == "" {
		return nil, nil
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		if b, err = base64.StdEncoding.DecodeString(h); err != nil {
			return nil, fmt.Errorf("invalid X-Registry-Auth header: %v", err)
		}
	}
	var a struct {
		Username      string `json:"username"`
		Password      string `json:"password"`
		Auth          string `json:"auth"`
		IdentityToken string `json:"identitytoken"`
		RegistryToken string `json:"registrytoken"`
	}
	if json.Unmarshal(b, &a) != nil {
		return nil, fmt.Errorf("invalid X-Registry-Auth header: not JSON")
	}
	if a.RegistryToken != "" {
		return nil, fmt.Errorf("usandbox does not take a registry token: send the user name and password (docker login)")
	}
	if a.Username == "" && a.Password == "" && a.Auth != "" {
		up, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return nil, fmt.Errorf("invalid X-Registry-Auth header: auth is not base64")
		}
		a.Username, a.Password, _ = strings.Cut(string(up), ":")
	}
	if a.Username == "" && a.Password == "" && a.IdentityToken == "" {
		return nil, nil
	}
	return &lifecycle.RegistryAuth{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}, nil
}

// imageCreate is POST /images/create?fromImage=&tag=: a pull, answered
// with docker's progress stream. An image the registry does not have is
// a 404 (the stream has not begun then); a failure once it has is the
// stream's last line.
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, tag := q.Get("fromImage"), q.Get("tag")
	switch {
	case q.Get("fromSrc") == "-":
		s.imageImport(w, r)
		return
	case q.Get("fromSrc") != "":
		writeError(w, http.StatusBadRequest, "import from a URL is not supported: send the archive as the request's body (fromSrc=-)")
		return
	case from == "":
		writeError(w, http.StatusBadRequest, "fromImage is required (image import, fromSrc, is not implemented)")
		return
	case q.Get("platform") != "" && q.Get("platform") != runtime.GOOS+"/"+runtime.GOARCH && q.Get("platform") != runtime.GOOS:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("usandbox pulls for this host's platform only (%s/%s), not %s", runtime.GOOS, runtime.GOARCH, q.Get("platform")))
		return
	case q.Get("changes") != "" || q.Get("message") != "" || q.Get("repo") != "":
		writeError(w, http.StatusBadRequest, "repo, message and changes are image import's: usandbox does not import")
		return
	}
	auth, err := registryAuth(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ref := docker.PullRef(from, tag)
	before, _ := s.e.Image(ref) // not there (or ambiguous): a new image
	stream := docker.NewPullStream(from, tag)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	started := false
	var notes []docker.JSONMessage
	send := func(ms ...docker.JSONMessage) {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			enc.Encode(stream.Begin())
			for _, n := range notes {
				enc.Encode(n)
			}
		}
		for _, m := range ms {
			enc.Encode(m) // a client gone: the request's context ends the pull
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	im, err := s.e.ImagePull(r.Context(), ref, lifecycle.PullOptions{Insecure: docker.InsecureRegistry(ref), Auth: auth}, func(ev lifecycle.PullEvent) {
		ms := stream.Event(ev)
		if ev.Kind == "note" && !started {
			notes = append(notes, ms...) // held until the pull begins, which a 404 may never
			return
		}
		if len(ms) > 0 {
			send(ms...)
		}
	})
	if err != nil {
		if !started {
			fail(w, err)
			return
		}
		send(docker.ErrorMessage(err))
		return
	}
	send(stream.End(im.Digest, before != nil && before.ID == im.ID)...)
}

// imageRemove is DELETE /images/{name}?force=&noprune=. noprune changes
// nothing: usandbox keeps no parent images for it to spare.
func (s *Server) imageRemove(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	rep, err := s.e.ImageRemove(r.Context(), name, boolParam(r, "force"))
	if err != nil {
		imageFail(w, name, err)
		return
	}
	out := []image.DeleteResponse{}
	for _, n := range rep.Untagged {
		out = append(out, image.DeleteResponse{Untagged: n})
	}
	if rep.Deleted != "" {
		out = append(out, image.DeleteResponse{Deleted: rep.Deleted})
	}
	writeJSON(w, out)
}

// imageTag is POST /images/{name}/tag?repo=&tag=, answered 201.
func (s *Server) imageTag(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	repo, tag := r.URL.Query().Get("repo"), r.URL.Query().Get("tag")
	if repo == "" {
		writeError(w, http.StatusBadRequest, "repo is required: the new name")
		return
	}
	if tag != "" {
		repo += ":" + tag
	}
	if err := s.e.ImageTag(r.Context(), name, repo); err != nil {
		imageFail(w, name, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// imagePush is POST /images/{name}/push?tag=: docker's progress stream.
// Without a tag, every local tag of the repository is pushed (docker's
// push --all-tags). An unknown image is a 404 before the stream begins.
func (s *Server) imagePush(w http.ResponseWriter, r *http.Request) {
	name, tag := mux.Vars(r)["name"], r.URL.Query().Get("tag")
	auth, err := registryAuth(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	repo := docker.FullName(name)
	var refs []string
	if tag != "" {
		refs = []string{repo + ":" + tag}
	} else {
		ims, err := s.e.Images()
		if err != nil {
			fail(w, err)
			return
		}
		for _, im := range ims {
			for _, n := range im.Names {
				if r, _, ok := strings.Cut(n, "@"); !ok && strings.HasPrefix(r, repo+":") && !strings.Contains(r[len(repo)+1:], "/") {
					refs = append(refs, n)
				}
			}
		}
	}
	if len(refs) == 0 {
		writeError(w, http.StatusNotFound, "No such image: "+name)
		return
	}
	for _, ref := range refs {
		if _, err := s.e.Image(ref); err != nil {
			imageFail(w, ref, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	send := func(ms ...docker.JSONMessage) {
		for _, m := range ms {
			enc.Encode(m) // a client gone: the request's context ends the push
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	stream := docker.NewPushStream()
	send(stream.Begin(repo))
	for _, ref := range refs {
		rep, err := s.e.ImagePush(r.Context(), ref, "", lifecycle.PushOptions{Insecure: docker.InsecureRegistry(ref), Auth: auth}, func(ev lifecycle.PullEvent) {
			send(stream.Event(ev)...)
		})
		if err != nil {
			send(docker.ErrorMessage(err))
			return
		}
		send(stream.End(rep.Tag, rep.Digest, rep.Size)...)
	}
}

// imageSave is GET /images/{name}/get and GET /images/get?names=…: one
// docker-archive of the images. A missing image is a 404 before anything
// is sent; a failure once the archive streams cuts it short.
func (s *Server) imageSave(w http.ResponseWriter, r *http.Request) {
	names := r.URL.Query()["names"]
	if n, ok := mux.Vars(r)["name"]; ok {
		names = []string{n}
	}
	if len(names) == 0 {
		writeError(w, http.StatusBadRequest, "names is required: the images to save")
		return
	}
	for _, n := range names {
		if _, err := s.e.Image(n); err != nil {
			imageFail(w, n, err)
			return
		}
	}
	sw := &startWriter{w: w}
	if err := s.e.ImageSave(r.Context(), names, sw); err != nil && !sw.started {
		fail(w, err)
	}
}

// startWriter sends the tar's headers with its first bytes, so that a
// failure before them can still be an error response.
type startWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *startWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/x-tar")
		s.w.WriteHeader(http.StatusOK)
	}
	return s.w.Write(p)
}

// imageLoad is POST /images/load (?quiet=): the tar body is stored, and
// the answer is docker's stream of {"stream":"Loaded image: NAME\n"}.
func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) {
	names, err := s.e.ImageLoad(r.Context(), r.Body, nil)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, n := range names {
		msg := "Loaded image: " + n + "\n"
		if strings.HasPrefix(n, "sha256:") {
			msg = "Loaded image ID: " + n + "\n"
		}
		enc.Encode(docker.JSONMessage{Message: jsonstream.Message{Stream: msg}})
	}
}

// auth is POST /auth: the credentials are checked with the registry and
// not kept (the client keeps them, as dockerd does not either).
func (s *Server) auth(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username      string `json:"username"`
		Password      string `json:"password"`
		ServerAddress string `json:"serveraddress"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return
	}
	reg := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(req.ServerAddress, "https://"), "http://"), "/")
	if reg == "" || strings.HasPrefix(reg, "index.docker.io") {
		reg = "docker.io"
	}
	reg, _, _ = strings.Cut(reg, "/")
	err := s.e.RegistryLogin(r.Context(), reg, lifecycle.RegistryAuth{Username: req.Username, Password: req.Password}, docker.InsecureRegistry(reg+"/x"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, map[string]string{"Status": "Login Succeeded", "IdentityToken": ""})
}

// imagePrune is POST /images/prune: filters dangling (true, the default:
// images without a name; false: every image no sandbox uses) and label
// (KEY or KEY=VALUE).
func (s *Server) imagePrune(w http.ResponseWriter, r *http.Request) {
	fs, ok := listFilters(w, r)
	if !ok {
		return
	}
	all := false
	var labels []string
	for _, f := range fs {
		key, value, _ := strings.Cut(f, "=")
		switch key {
		case "dangling":
			switch value {
			case "true", "1":
				all = false
			case "false", "0":
				all = true
			default:
				writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid filter 'dangling=%s'", value))
				return
			}
		case "label":
			labels = append(labels, value)
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("usandbox's image prune filters on dangling and label, not %q", key))
			return
		}
	}
	ids, freed, err := s.e.ImagePrune(r.Context(), all, labels)
	if err != nil {
		fail(w, err)
		return
	}
	out := image.PruneReport{ImagesDeleted: []image.DeleteResponse{}, SpaceReclaimed: uint64(freed)}
	for _, id := range ids {
		out.ImagesDeleted = append(out.ImagesDeleted, image.DeleteResponse{Deleted: "sha256:" + id})
	}
	writeJSON(w, out)
}

// systemDF is GET /system/df in API 1.41's shape.
func (s *Server) systemDF(w http.ResponseWriter, r *http.Request) {
	usage, err := s.e.DiskUsage(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	ims, err := s.e.Images()
	if err != nil {
		fail(w, err)
		return
	}
	sbs, err := s.e.List(r.Context(), lifecycle.ListOptions{All: true})
	if err != nil {
		fail(w, err)
		return
	}
	vols, err := s.e.VolumeList(r.Context(), lifecycle.VolumeFilters{})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, docker.SystemDF(usage, ims, sbs, vols, time.Now()))
}
