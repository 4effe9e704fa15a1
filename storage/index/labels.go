package index

import "strings"

// MatchLabel is podman's label filter, of ps and images: "KEY" matches
// labels with the key whatever its value, "KEY=VALUE" those with that
// value ("KEY=" is "KEY", as podman 4.3 takes it).
func MatchLabel(labels map[string]string, filter string) bool {
	k, v, hasValue := strings.Cut(filter, "=")
	got, ok := labels[k]
	if !ok {
		return false
	}
	return !hasValue || v == "" || got == v
}
