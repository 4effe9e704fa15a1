package docker

import (
	"fmt"
	"net"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/jsonstream"

	"usandbox/lifecycle"
)

// JSONMessage is one line of docker's progress streams (pull): jsonstream's
// Message with the two fields docker 20.10 still sent and read, the
// legacy error string and the drawn progress bar.
type JSONMessage struct {
	jsonstream.Message
	ProgressMessage string `json:"progress,omitempty"`
	ErrorMessage    string `json:"error,omitempty"`
}

// ErrorMessage is the stream's last line when the pull fails.
func ErrorMessage(err error) JSONMessage {
	return JSONMessage{Message: jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}}, ErrorMessage: err.Error()}
}

// PullRef is the image docker's POST /images/create?fromImage=&tag=
// names: tag is a tag, or a digest (sha256:…).
func PullRef(fromImage, tag string) string {
	switch {
	case tag == "":
		return fromImage
	case strings.Contains(tag, ":"):
		return fromImage + "@" + tag
	}
	return fromImage + ":" + tag
}

// InsecureRegistry: ref's registry is on the loopback, which docker
// trusts over plain HTTP without being told (its insecure-registries
// default to 127.0.0.0/8).
func InsecureRegistry(ref string) bool {
	first, _, ok := strings.Cut(ref, "/")
	if !ok || !strings.ContainsAny(first, ".:") && first != "localhost" {
		return false
	}
	host := first
	if h, _, err := net.SplitHostPort(first); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// PullStream turns a pull's lifecycle events into docker's messages.
type PullStream struct {
	ref        string
	downloaded bool
	sizes      map[string]int64 // by layer digest, from its start
}

// NewPullStream begins the stream of a pull of fromImage:tag (as the
// request named them).
func NewPullStream(fromImage, tag string) *PullStream {
	return &PullStream{ref: PullRef(fromImage, tag), sizes: map[string]int64{}}
}

// Begin is the stream's first line: docker's "Pulling from REPO" with the
// tag as its id.
func (p *PullStream) Begin() JSONMessage {
	repo, tag := p.ref, "latest"
	if r, d, ok := strings.Cut(repo, "@"); ok {
		repo, tag = r, d
	} else if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	if first, rest, ok := strings.Cut(repo, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		repo = rest
	}
	return status("Pulling from "+repo, tag)
}

func status(s, id string) JSONMessage {
	return JSONMessage{Message: jsonstream.Message{Status: s, ID: id}}
}

func layerID(digest string) string {
	_, hex, _ := strings.Cut(digest, ":")
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

// Event is docker's messages for one event (none for some).
func (p *PullStream) Event(ev lifecycle.PullEvent) []JSONMessage {
	id := layerID(ev.Layer)
	switch ev.Kind {
	case "note":
		return []JSONMessage{status(ev.Message, "")}
	case "skip":
		return []JSONMessage{status("Already exists", id)}
	case "start":
		p.downloaded = true
		p.sizes[ev.Layer] = ev.Size
		m := status("Pulling fs layer", id)
		m.Progress = &jsonstream.Progress{}
		return []JSONMessage{m}
	case "progress":
		m := status("Downloading", id)
		total := p.sizes[ev.Layer]
		m.Progress = &jsonstream.Progress{Current: ev.Current, Total: total}
		m.ProgressMessage = progressBar(ev.Current, total)
		return []JSONMessage{m}
	case "done":
		return []JSONMessage{status("Download complete", id), status("Pull complete", id)}
	}
	return nil
}

// End is the stream's last lines: the manifest's digest, and whether the
// image is new; existed says the store had this image under this name
// before.
func (p *PullStream) End(digest string, existed bool) []JSONMessage {
	st := "Status: Downloaded newer image for " + p.ref
	if existed && !p.downloaded {
		st = "Status: Image is up to date for " + p.ref
	}
	return []JSONMessage{status(fmt.Sprintf("Digest: %s", digest), ""), status(st, "")}
}

// progressBar is docker's drawn progress: "[=====>     ]  1.2MB/3.4MB".
func progressBar(current, total int64) string {
	const width = 50
	if total <= 0 {
		return units.HumanSize(float64(current))
	}
	n := int(float64(width) * float64(min(current, total)) / float64(total))
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %8s/%s", bar, units.HumanSize(float64(current)), units.HumanSize(float64(total)))
}
