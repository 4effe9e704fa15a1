package dockerapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/gorilla/mux"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"

	"usandbox/compat/docker"
	"usandbox/lifecycle"
)

// decode reads the request's JSON body into v; an empty body leaves v
// as it is. Fields v does not have are refused: a field accepted must
// do what it says.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && err.Error() != "EOF" {
		return fmt.Errorf("invalid JSON body: %v", err)
	}
	return nil
}

// listFilters are ?filters= as KEY=VALUE, or a 400 already written.
func listFilters(w http.ResponseWriter, r *http.Request) ([]string, bool) {
	fs, err := filters(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	return fs, true
}

// pruneLabels are a prune's label filters (docker's label=KEY or
// KEY=VALUE, all of which must match), or a 400 already written for any
// other filter.
func pruneLabels(w http.ResponseWriter, r *http.Request, what string) ([]string, bool) {
	fs, ok := listFilters(w, r)
	if !ok {
		return nil, false
	}
	var labels []string
	for _, f := range fs {
		key, value, _ := strings.Cut(f, "=")
		if key != "label" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("usandbox's %s prune filters on label only, not %q", what, key))
			return nil, false
		}
		labels = append(labels, value)
	}
	return labels, true
}

// networkFail writes docker's 404 for an unknown network.
func networkFail(w http.ResponseWriter, ref string, err error) {
	if lifecycle.Kind(err) == lifecycle.ErrNotFound {
		writeError(w, http.StatusNotFound, fmt.Sprintf("network %s not found", ref))
		return
	}
	fail(w, err)
}

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) {
	fs, ok := listFilters(w, r)
	if !ok {
		return
	}
	f, err := lifecycle.ParseNetworkFilters(fs)
	if err != nil {
		fail(w, err)
		return
	}
	list, err := s.e.NetworkList(r.Context(), f)
	if err != nil {
		fail(w, err)
		return
	}
	members, err := s.e.NetworkMembers()
	if err != nil {
		fail(w, err)
		return
	}
	out := []network.Inspect{}
	for _, n := range list {
		out = append(out, docker.Network(n, members[n.Name]))
	}
	writeJSON(w, out)
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) {
	ref := mux.Vars(r)["id"]
	n, err := s.e.NetworkInspect(r.Context(), ref)
	if err != nil {
		networkFail(w, ref, err)
		return
	}
	members, err := s.e.NetworkMembers()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, docker.Network(n, members[n.Name]))
}

// networkCreateRequest is docker's POST /networks/create body (API
// 1.41: CheckDuplicate is still there).
type networkCreateRequest struct {
	Name           string
	CheckDuplicate bool
	Driver         string
	Scope          string
	EnableIPv4     *bool
	EnableIPv6     bool
	IPAM           *network.IPAM
	Internal       bool
	Attachable     bool
	Ingress        bool
	ConfigOnly     bool
	ConfigFrom     *network.ConfigReference
	Options        map[string]string
	Labels         map[string]string
}

// networkCreateOptions turns docker's request into lifecycle's, or says what
// usandbox cannot do.
func networkCreateOptions(req networkCreateRequest) (lifecycle.NetworkCreateOptions, error) {
	o := lifecycle.NetworkCreateOptions{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Labels: req.Labels, Options: req.Options}
	switch {
	case req.Name == "":
		return o, errors.New("a network needs a name (Name)")
	case req.Driver != "" && req.Driver != "bridge":
		return o, fmt.Errorf("usandbox has only the bridge driver, not %q", req.Driver)
	case req.Scope != "" && req.Scope != "local":
		return o, fmt.Errorf("usandbox's networks are local, not %s", req.Scope)
	case req.EnableIPv6:
		return o, errors.New("usandbox's networks have no IPv6 (EnableIPv6)")
	case req.EnableIPv4 != nil && !*req.EnableIPv4:
		return o, errors.New("usandbox's networks are IPv4: EnableIPv4 cannot be false")
	// Attachable (docker compose sends it) is what every usandbox
	// network is: sandboxes join it at run and by connect.
	case req.Ingress, req.ConfigOnly, req.ConfigFrom != nil && req.ConfigFrom.Network != "":
		return o, errors.New("usandbox has no swarm networks (Ingress, ConfigOnly, ConfigFrom)")
	}
	if ipam := req.IPAM; ipam != nil {
		if ipam.Driver != "" && ipam.Driver != "default" {
			return o, fmt.Errorf("usandbox has only the default IPAM driver, not %q", ipam.Driver)
		}
		if len(ipam.Options) > 0 {
			return o, errors.New("usandbox's IPAM takes no options")
		}
		switch len(ipam.Config) {
		case 0:
		case 1:
			c := ipam.Config[0]
			if c.IPRange.IsValid() || len(c.AuxAddress) > 0 {
				return o, errors.New("usandbox's IPAM takes a Subnet and a Gateway only (no IPRange, AuxiliaryAddresses)")
			}
			if c.Subnet.IsValid() {
				o.Subnet = c.Subnet.String()
			}
			if c.Gateway.IsValid() {
				o.Gateway = c.Gateway.String()
			}
		default:
			return o, errors.New("usandbox's networks have one subnet")
		}
	}
	return o, nil
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) {
	var req networkCreateRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	o, err := networkCreateOptions(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// Without CheckDuplicate docker 20.10 made a second network of the
	// same name; usandbox's names are unique, so the name in use is a
	// conflict either way (as docker 25's, which dropped the field).
	n, err := s.e.NetworkCreate(r.Context(), o)
	if err != nil {
		if lifecycle.Kind(err) == lifecycle.ErrConflict {
			writeError(w, http.StatusConflict, fmt.Sprintf("network with name %s already exists", req.Name))
			return
		}
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(network.CreateResponse{ID: n.ID})
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) {
	ref := mux.Vars(r)["id"]
	err := s.e.NetworkRemove(r.Context(), ref, false)
	if errors.Is(err, lifecycle.ErrDefaultNetwork) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("%s is a pre-defined network and cannot be removed", ref))
		return
	}
	if err != nil {
		networkFail(w, ref, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) networkPrune(w http.ResponseWriter, r *http.Request) {
	labels, ok := pruneLabels(w, r, "network")
	if !ok {
		return
	}
	names, err := s.e.NetworkPruneLabels(r.Context(), labels)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, network.PruneReport{NetworksDeleted: nonNil(names)})
}

// networkConnect is POST /networks/{id}/connect: EndpointConfig's
// Aliases only (usandbox picks the address).
func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request) {
	ref := mux.Vars(r)["id"]
	var req network.ConnectRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var aliases []string
	if ep := req.EndpointConfig; ep != nil {
		if ep.IPAMConfig != nil && (ep.IPAMConfig.IPv4Address.IsValid() || ep.IPAMConfig.IPv6Address.IsValid() || len(ep.IPAMConfig.LinkLocalIPs) > 0) ||
			len(ep.Links) > 0 || len(ep.DriverOpts) > 0 || len(ep.MacAddress) > 0 || ep.IPAddress.IsValid() {
			writeError(w, http.StatusBadRequest, "usandbox's network connect takes Aliases only: the network picks the address (no IPAMConfig, Links, DriverOpts, MacAddress)")
			return
		}
		aliases = ep.Aliases
	}
	if req.Container == "" {
		writeError(w, http.StatusBadRequest, "network connect needs a Container")
		return
	}
	if err := s.e.NetworkConnect(r.Context(), ref, req.Container, aliases); err != nil {
		s.connectFail(w, r, ref, req.Container, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// connectFail names what was not found, the network or the sandbox.
func (s *Server) connectFail(w http.ResponseWriter, r *http.Request, ref, ctr string, err error) {
	if lifecycle.Kind(err) == lifecycle.ErrNotFound {
		if ok, _ := s.e.NetworkExists(r.Context(), ref); !ok {
			networkFail(w, ref, err)
			return
		}
		writeError(w, http.StatusNotFound, "No such container: "+ctr)
		return
	}
	fail(w, err)
}

// networkDisconnect is POST /networks/{id}/disconnect. Force is
// accepted: usandbox's disconnect never waits on the sandbox anyway.
func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request) {
	ref := mux.Vars(r)["id"]
	var req network.DisconnectRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Container == "" {
		writeError(w, http.StatusBadRequest, "network disconnect needs a Container")
		return
	}
	if err := s.e.NetworkDisconnect(r.Context(), ref, req.Container); err != nil {
		s.connectFail(w, r, ref, req.Container, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func volumeFail(w http.ResponseWriter, name string, err error) {
	if lifecycle.Kind(err) == lifecycle.ErrNotFound {
		writeError(w, http.StatusNotFound, fmt.Sprintf("get %s: no such volume", name))
		return
	}
	fail(w, err)
}

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request) {
	fs, ok := listFilters(w, r)
	if !ok {
		return
	}
	f, err := lifecycle.ParseVolumeFilters(fs)
	if err != nil {
		fail(w, err)
		return
	}
	list, err := s.e.VolumeList(r.Context(), f)
	if err != nil {
		fail(w, err)
		return
	}
	out := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}}
	for _, v := range list {
		out.Volumes = append(out.Volumes, docker.Volume(v, nil))
	}
	writeJSON(w, out)
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	v, err := s.e.VolumeInspect(r.Context(), name)
	if err != nil {
		volumeFail(w, name, err)
		return
	}
	writeJSON(w, docker.Volume(v, nil))
}

func (s *Server) volumeCreate(w http.ResponseWriter, r *http.Request) {
	var req volume.CreateRequest
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch {
	case req.Driver != "" && req.Driver != "local":
		writeError(w, http.StatusBadRequest, fmt.Sprintf("usandbox has only the local volume driver, not %q", req.Driver))
		return
	case len(req.DriverOpts) > 0:
		keys := make([]string, 0, len(req.DriverOpts))
		for k := range req.DriverOpts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		writeError(w, http.StatusBadRequest, fmt.Sprintf("usandbox's local volumes take no driver options (got %s): a volume is a directory", strings.Join(keys, ", ")))
		return
	case req.ClusterVolumeSpec != nil:
		writeError(w, http.StatusBadRequest, "usandbox has no cluster volumes")
		return
	}
	v, err := s.e.VolumeCreate(r.Context(), lifecycle.VolumeCreateOptions{Name: req.Name, Labels: req.Labels})
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(docker.Volume(v, nil))
}

// volumeRemove is DELETE /volumes/{name}: force is docker's (an unknown
// volume is no error), not podman's (which removes the sandboxes using
// it): a volume in use is refused either way.
func (s *Server) volumeRemove(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	err := s.e.VolumeRemove(r.Context(), name, false)
	if err != nil && !(boolParam(r, "force") && lifecycle.Kind(err) == lifecycle.ErrNotFound) {
		volumeFail(w, name, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) volumePrune(w http.ResponseWriter, r *http.Request) {
	labels, ok := pruneLabels(w, r, "volume")
	if !ok {
		return
	}
	names, err := s.e.VolumePruneLabels(r.Context(), labels)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, volume.PruneReport{VolumesDeleted: nonNil(names)})
}
