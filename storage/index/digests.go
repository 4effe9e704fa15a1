package index

import (
	"slices"
	"strings"
)

// RepoDigests are the image's names by digest ("docker.io/library/
// busybox@sha256:…"), one per repository it is named in, as docker and
// podman list them.
func (im *Image) RepoDigests() []string {
	out := []string{}
	if im.Digest == "" {
		return out
	}
	for _, n := range im.Names {
		repo := n
		if i := strings.LastIndex(n, ":"); i > strings.LastIndex(n, "/") {
			repo = n[:i]
		}
		if d := repo + "@" + im.Digest; !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}
