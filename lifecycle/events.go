package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"time"

	"usandbox/internal/events"
)

// Event is one entry of the store's journal (package events).
type Event = events.Event

// EventOptions select what Events emits.
type EventOptions struct {
	// Since and Until bound the events' times (zero: none).
	Since, Until time.Time
	// Follow: go on with new events until Until or ctx's end.
	Follow bool
	// Filters: only the events that match (ParseEventFilters).
	Filters EventFilters
}

// EventFilters are docker's events filters: an event matches every key
// given, and one value of each.
type EventFilters struct{ set filterSet[*Event] }

// ParseEventFilters reads KEY=VALUE filters: container (ID, ID prefix or
// name), event (the action), type, image, label (KEY or KEY=VALUE),
// network and volume (their names).
func ParseEventFilters(fs []string) (EventFilters, error) {
	f := EventFilters{set: filterSet[*Event]{}}
	for _, kv := range fs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return f, as(ErrInvalid, fmt.Errorf("invalid filter %q: give KEY=VALUE", kv))
		}
		switch k {
		case "container":
			f.set.add(k, func(ev *Event, _ bool) bool {
				return ev.Type == "container" && (strings.HasPrefix(ev.ID, v) || ev.Attributes["name"] == v)
			})
		case "event":
			f.set.add(k, func(ev *Event, _ bool) bool { return ev.Action == v })
		case "type":
			f.set.add(k, func(ev *Event, _ bool) bool { return ev.Type == v })
		case "image":
			f.set.add(k, func(ev *Event, _ bool) bool {
				return ev.Attributes["image"] == v || (ev.Type == "image" && (ev.ID == v || ev.Attributes["name"] == v))
			})
		case "label":
			f.set.add(k, labelFilter(v, func(ev *Event) map[string]string { return ev.Attributes }))
		case "network", "volume":
			f.set.add(k, func(ev *Event, _ bool) bool { return ev.Type == k && ev.ID == v })
		default:
			return f, as(ErrInvalid, fmt.Errorf("invalid filter %q: the keys are container, event, type, image, label, network and volume", k))
		}
	}
	return f, nil
}

// Events emits the store's events, oldest first, then, with Follow, new
// ones as usandbox processes (the CLI, the service, monitors) write them.
func (e *Engine) Events(ctx context.Context, o EventOptions, emit func(Event)) error {
	return events.Read(ctx, e.paths.RunRoot, events.ReadOptions{Since: o.Since, Until: o.Until, Follow: o.Follow, Poll: 50 * time.Millisecond}, func(ev Event) {
		if o.Filters.set == nil || o.Filters.set.match(&ev, false) {
			emit(ev)
		}
	})
}
