package lifecycle

import (
	"fmt"
	"strings"
)

// filterSet is a parsed --filter list of ls commands over configuration
// objects (volumes, networks): an object must match every key given, and
// one of the values given for a key; used says whether a sandbox uses it
// (dangling).
type filterSet[T any] map[string][]func(T, bool) bool

func (f filterSet[T]) add(key string, m func(T, bool) bool) { f[key] = append(f[key], m) }

func (f filterSet[T]) match(x T, used bool) bool {
	for _, ms := range f {
		hit := false
		for _, m := range ms {
			if m(x, used) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// labelFilter matches label=KEY or label=KEY=VALUE against labels(x).
func labelFilter[T any](value string, labels func(T) map[string]string) func(T, bool) bool {
	k, want, hasValue := strings.Cut(value, "=")
	return func(x T, _ bool) bool {
		got, ok := labels(x)[k]
		return ok && (!hasValue || got == want)
	}
}

// danglingFilter matches dangling=true (used by no sandbox) or false.
func danglingFilter[T any](value string) (func(T, bool) bool, error) {
	var want bool
	switch value {
	case "true", "1":
		want = true
	case "false", "0":
	default:
		return nil, as(ErrInvalid, fmt.Errorf("invalid dangling filter %q: true or false", value))
	}
	return func(_ T, used bool) bool { return used != want }, nil
}

// allLabels matches what has every one of labels (KEY or KEY=VALUE),
// as docker's prune --filter label does; none matches everything.
func allLabels[T any](labels []string, of func(T) map[string]string) (func(T) bool, error) {
	var ms []func(T, bool) bool
	for _, l := range labels {
		if l == "" || strings.HasPrefix(l, "=") {
			return nil, as(ErrInvalid, fmt.Errorf("invalid label filter %q: KEY or KEY=VALUE", l))
		}
		ms = append(ms, labelFilter(l, of))
	}
	return func(x T) bool {
		for _, m := range ms {
			if !m(x, false) {
				return false
			}
		}
		return true
	}, nil
}
