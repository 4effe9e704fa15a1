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

// registryAuth refuses credentials sent with the request: usandbox-image
// reads them from auth.json or ~/.docker/config.json, and cannot be
// handed these. docker sends an empty {} when it has none.
func registryAuth(r *http.Request) error {
	h := r.Header.Get("X-Registry-Auth")
	if h == "" {
		return nil
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		if b, err = base64.StdEncoding.DecodeString(h); err != nil {
			return fmt.Errorf("invalid X-Registry-Auth header: %v", err)
		}
	}
	var a map[string]any
	if json.Unmarshal(b, &a) != nil {
		return fmt.Errorf("invalid X-Registry-Auth header: not JSON")
	}
	for _, k := range []string{"username", "password", "auth", "identitytoken", "registrytoken"} {
		if v, _ := a[k].(string); v != "" {
			return fmt.Errorf("usandbox does not take registry credentials with the request: log in with usandbox login or docker login (auth.json, ~/.docker/config.json), which the pull reads")
		}
	}
	return nil
}

// imageCreate is POST /images/create?fromImage=&tag=: a pull, answered
// with docker's progress stream. An image the registry does not have is
// a 404 (the stream has not begun then); a failure once it has is the
// stream's last line.
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, tag := q.Get("fromImage"), q.Get("tag")
	switch {
	case q.Get("fromSrc") != "":
		writeError(w, http.StatusNotImplemented, "image import (fromSrc) is not implemented in usandbox: pull an image, or load an archive with usandbox pull docker-archive:FILE")
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
	if err := registryAuth(r); err != nil {
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
	im, err := s.e.ImagePull(r.Context(), ref, lifecycle.PullOptions{Insecure: docker.InsecureRegistry(ref)}, func(ev lifecycle.PullEvent) {
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

func (s *Server) imagePush(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, "push is not implemented yet in usandbox (issue 16)")
}

func (s *Server) imageSave(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, "image save is not implemented in usandbox: its store has no export yet")
}

func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, "image load is not implemented in usandbox: pull the archive instead (usandbox pull docker-archive:FILE or oci-archive:FILE)")
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
