package main

import (
	"os"
	"strings"
	"time"

	"usandbox/internal/format"
	"usandbox/sandbox"
)

// psRow is one sandbox as ps --format templates see it: podman's ps
// fields ({{.ID}}, {{.Names}}, {{.Status}}, …), as strings the way the
// table prints them, and Labels as a map.
type psRow struct {
	ID           string
	Image        string
	ImageID      string
	Command      string
	CreatedAt    string
	CreatedHuman string
	RunningFor   string
	Status       string
	State        string
	Ports        string
	Names        string
	Labels       map[string]string
	Mounts       []string
	// Networks are the named networks joined (podman's), comma-separated;
	// a sandbox in a mode (slirp4netns, pasta, none, host, container:)
	// has none.
	Networks   string
	Pid        int
	ExitCode   int
	Exited     bool
	AutoRemove bool
	StartedAt  string
	ExitedAt   string
}

// psHeaders are podman's column headings for the fields of psRow.
var psHeaders = format.Headers(psRow{}, map[string]string{"ID": "CONTAINER ID", "CreatedHuman": "CREATED"})

func psRows(list []*sandbox.Sandbox, noTrunc bool) []psRow {
	now := time.Now()
	rows := []psRow{}
	for _, sb := range list {
		id := sb.ID
		if !noTrunc {
			id = sandbox.ShortID(id)
		}
		ago := humanAgo(now.Sub(sb.Created)) + " ago"
		r := psRow{
			ID: id, Image: sb.Image, ImageID: sb.ImageID, Command: strings.Join(sb.Command, " "),
			CreatedAt: sb.Created.String(), CreatedHuman: ago, RunningFor: ago,
			Status: sb.StatusString(now), State: sb.State.Status, Ports: portsString(sb.Ports),
			Names: sb.Name, Labels: labelsOf(sb), Mounts: []string{},
			Pid: sb.State.Pid, ExitCode: sb.State.ExitCode, Exited: sb.State.Status == sandbox.StatusExited,
			AutoRemove: sb.AutoRemove, StartedAt: sb.State.StartedAt.String(), ExitedAt: sb.State.FinishedAt.String(),
		}
		for _, m := range sandbox.Volumes(&sb.Spec) {
			r.Mounts = append(r.Mounts, m.Destination)
		}
		r.Networks = strings.Join(networkNames(sb), ",")
		rows = append(rows, r)
	}
	return rows
}

// psEntry is one sandbox of ps --format json, with podman's field names
// and types: times as Unix seconds, CreatedAt as the human "… ago".
type psEntry struct {
	AutoRemove bool              `json:"AutoRemove"`
	Command    []string          `json:"Command"`
	CreatedAt  string            `json:"CreatedAt"`
	Exited     bool              `json:"Exited"`
	ExitedAt   int64             `json:"ExitedAt"`
	ExitCode   int               `json:"ExitCode"`
	ID         string            `json:"Id"`
	Image      string            `json:"Image"`
	ImageID    string            `json:"ImageID"`
	Labels     map[string]string `json:"Labels"`
	Mounts     []string          `json:"Mounts"`
	Names      []string          `json:"Names"`
	Networks   []string          `json:"Networks"`
	Pid        int               `json:"Pid"`
	Ports      []psPort          `json:"Ports"`
	StartedAt  int64             `json:"StartedAt"`
	State      string            `json:"State"`
	Status     string            `json:"Status"`
	Created    int64             `json:"Created"`
}

// psPort is a published port as podman's JSON has it.
type psPort struct {
	HostIP        string `json:"host_ip"`
	ContainerPort int    `json:"container_port"`
	HostPort      int    `json:"host_port"`
	Range         int    `json:"range"`
	Protocol      string `json:"protocol"`
}

func psJSON(list []*sandbox.Sandbox) []psEntry {
	out := []psEntry{}
	now := time.Now()
	for _, sb := range list {
		e := psEntry{
			AutoRemove: sb.AutoRemove, Command: sb.Command, CreatedAt: humanAgo(now.Sub(sb.Created)) + " ago",
			Exited: sb.State.Status == sandbox.StatusExited, ExitedAt: sb.State.FinishedAt.Unix(), ExitCode: sb.State.ExitCode,
			ID: sb.ID, Image: sb.Image, ImageID: sb.ImageID, Labels: labelsOf(sb), Mounts: []string{},
			Names: []string{sb.Name}, Networks: []string{}, Pid: sb.State.Pid, StartedAt: sb.State.StartedAt.Unix(),
			State: sb.State.Status, Status: sb.StatusString(now), Created: sb.Created.Unix(),
		}
		if e.Command == nil {
			e.Command = []string{}
		}
		for _, m := range sandbox.Volumes(&sb.Spec) {
			e.Mounts = append(e.Mounts, m.Destination)
		}
		e.Networks = append(e.Networks, networkNames(sb)...)
		for _, p := range sb.Ports {
			e.Ports = append(e.Ports, psPort{HostIP: p.HostIP, ContainerPort: p.Container, HostPort: p.HostPort, Range: 1, Protocol: p.Proto})
		}
		out = append(out, e)
	}
	return out
}

// printPS prints the sandboxes through a --format other than the
// default table.
func printPS(t *format.Template, list []*sandbox.Sandbox, noTrunc, noHeading bool) error {
	if t.IsJSON() {
		return t.Execute(os.Stdout, psJSON(list), nil)
	}
	headers := psHeaders
	if noHeading {
		headers = nil
	}
	return t.Execute(os.Stdout, psRows(list, noTrunc), headers)
}

// networkNames are the named networks a sandbox is on, in order.
func networkNames(sb *sandbox.Sandbox) []string {
	var out []string
	for _, a := range sb.Network.Networks {
		out = append(out, a.Name)
	}
	return out
}

// labelsOf are a sandbox's labels, never nil (podman prints map[] and {}).
func labelsOf(sb *sandbox.Sandbox) map[string]string {
	m := make(map[string]string, len(sb.Labels))
	for k, v := range sb.Labels {
		m[k] = v
	}
	return m
}
