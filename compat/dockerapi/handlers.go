package dockerapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"

	"usandbox/compat/docker"
	"usandbox/lifecycle"
)

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Docker-Experimental", "false")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Length", "0")
		return
	}
	w.Write([]byte("OK"))
}

func (s *Server) versionInfo(w http.ResponseWriter, r *http.Request) {
	in, err := s.e.Info(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, system.VersionResponse{
		Platform: system.PlatformInfo{Name: "usandbox"},
		Version:  s.version, APIVersion: APIVersion, MinAPIVersion: MinAPIVersion,
		Os: in.OS, Arch: in.Arch, KernelVersion: in.Kernel, GoVersion: runtime.Version(),
		Components: []system.ComponentVersion{{Name: "Engine", Version: s.version, Details: map[string]string{
			"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "Os": in.OS, "Arch": in.Arch, "KernelVersion": in.Kernel,
		}}},
	})
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	in, err := s.e.Info(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	sec := []string{"name=seccomp,profile=builtin"}
	if in.Rootless {
		sec = append(sec, "name=rootless")
	}
	writeJSON(w, system.Info{
		ID: "usandbox", Containers: in.Sandboxes, ContainersRunning: in.Running, ContainersStopped: in.Stopped,
		Images: in.Images, Driver: in.GraphDriver, OSType: in.OS, Architecture: in.Arch, NCPU: in.CPUs,
		Name: in.Hostname, ServerVersion: s.version, KernelVersion: in.Kernel, OperatingSystem: "usandbox",
		DockerRootDir: in.Paths.Root, CgroupVersion: strings.TrimPrefix(in.CgroupVersion, "v"), SecurityOptions: sec,
		IndexServerAddress: "https://index.docker.io/v1/",
	})
}

// filters are the API's ?filters={"key":["v",…]} (docker also sent
// {"key":{"v":true}}) as lifecycle's KEY=VALUE list.
func filters(r *http.Request) ([]string, error) {
	raw := r.URL.Query().Get("filters")
	if raw == "" {
		return nil, nil
	}
	var lists map[string][]string
	if err := json.Unmarshal([]byte(raw), &lists); err != nil {
		var sets map[string]map[string]bool
		if err2 := json.Unmarshal([]byte(raw), &sets); err2 != nil {
			return nil, fmt.Errorf("invalid filter: %v", err)
		}
		lists = map[string][]string{}
		for k, set := range sets {
			for v, on := range set {
				if on {
					lists[k] = append(lists[k], v)
				}
			}
		}
	}
	var out []string
	keys := make([]string, 0, len(lists))
	for k := range lists {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range lists[k] {
			out = append(out, k+"="+v)
		}
	}
	return out, nil
}

func boolParam(r *http.Request, name string) bool {
	b, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return b
}

func (s *Server) containerList(w http.ResponseWriter, r *http.Request) {
	fs, err := filters(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f, err := lifecycle.ParseFilters(fs)
	if err != nil {
		fail(w, err)
		return
	}
	list, err := s.e.List(r.Context(), lifecycle.ListOptions{All: boolParam(r, "all"), Filters: f})
	if err != nil {
		fail(w, err)
		return
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n < len(list) {
		list = list[:n]
	}
	now := time.Now()
	out := []container.Summary{}
	for _, sb := range list {
		out = append(out, docker.ContainerSummary(sb, now))
	}
	writeJSON(w, out)
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	sb, err := s.e.Inspect(r.Context(), name)
	if err != nil {
		if lifecycle.Kind(err) == lifecycle.ErrNotFound {
			writeError(w, http.StatusNotFound, "No such container: "+name)
			return
		}
		fail(w, err)
		return
	}
	im, _ := s.e.Image(sb.ImageID) // an image removed since: inspect without it
	writeJSON(w, docker.Container(sb, im))
}

func (s *Server) imageList(w http.ResponseWriter, r *http.Request) {
	ims, err := s.e.Images()
	if err != nil {
		fail(w, err)
		return
	}
	users := map[string]int{}
	if all, err := s.e.List(r.Context(), lifecycle.ListOptions{All: true}); err == nil {
		for _, sb := range all {
			users[sb.ImageID]++
		}
	}
	out := []image.Summary{}
	for _, im := range ims {
		out = append(out, docker.ImageSummary(im, users[im.ID]))
	}
	writeJSON(w, out)
}

func (s *Server) imageInspect(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	im, err := s.e.Image(name)
	if err != nil {
		if lifecycle.Kind(err) == lifecycle.ErrNotFound {
			writeError(w, http.StatusNotFound, "No such image: "+name)
			return
		}
		fail(w, err)
		return
	}
	writeJSON(w, docker.Image(im))
}
