package sandbox

import (
	"usandbox/internal/events"
	"usandbox/storage/index"
)

// Event journals what happened to sb (package events): docker's action
// (create, start, die, kill, stop, destroy...), with the sandbox's name,
// image and labels, and extra attributes (exitCode, signal). A journal
// that cannot be written loses the event, never the operation.
func Event(p index.Paths, sb *Sandbox, action string, extra map[string]string) {
	attrs := map[string]string{"name": sb.Name, "image": sb.Image}
	for k, v := range sb.Labels {
		attrs[k] = v
	}
	for k, v := range extra {
		attrs[k] = v
	}
	_ = events.Write(p.RunRoot, events.Event{Type: "container", Action: action, ID: sb.ID, Attributes: attrs})
}
