package docker

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"

	"usandbox/lifecycle"
)

// PushStream turns a push's lifecycle events into docker's messages.
type PushStream struct {
	sizes map[string]int64 // by layer digest, from its start
}

// NewPushStream begins the stream of a push.
func NewPushStream() *PushStream { return &PushStream{sizes: map[string]int64{}} }

// Begin is the stream's first line: "The push refers to repository
// [REPO]", REPO the full name without the tag.
func (p *PushStream) Begin(repo string) JSONMessage {
	return status("The push refers to repository ["+repo+"]", "")
}

// Event is docker's messages for one event (none for some).
func (p *PushStream) Event(ev lifecycle.PullEvent) []JSONMessage {
	id := layerID(ev.Layer)
	switch ev.Kind {
	case "skip":
		return []JSONMessage{status("Layer already exists", id)}
	case "start":
		p.sizes[ev.Layer] = ev.Size
		m := status("Preparing", id)
		m.Progress = &jsonstream.Progress{}
		return []JSONMessage{m}
	case "progress":
		m := status("Pushing", id)
		total := p.sizes[ev.Layer]
		m.Progress = &jsonstream.Progress{Current: ev.Current, Total: total}
		m.ProgressMessage = progressBar(ev.Current, total)
		return []JSONMessage{m}
	case "done":
		return []JSONMessage{status("Pushed", id)}
	}
	return nil
}

// End is the stream's last lines: "TAG: digest: D size: N", and the same
// as aux data, which the docker CLI reads.
func (p *PushStream) End(tag, digest string, size int64) []JSONMessage {
	aux, _ := json.Marshal(map[string]any{"Tag": tag, "Digest": digest, "Size": size}) // plain values: cannot fail
	raw := json.RawMessage(aux)
	return []JSONMessage{
		status(fmt.Sprintf("%s: digest: %s size: %d", tag, digest, size), ""),
		{Message: jsonstream.Message{Progress: &jsonstream.Progress{}, Aux: &raw}},
	}
}

// FullName is a repository name as docker normalizes it: one without a
// registry is on docker.io, a single component under library/.
func FullName(name string) string {
	first, _, ok := strings.Cut(name, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return name
	}
	if !ok {
		name = "library/" + name
	}
	return "docker.io/" + name
}
