package main

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"usandbox/storage"
	"usandbox/storage/index"
)

// parseImageFilters parses images --filter KEY=VALUE, podman's: an image
// must match every key, and one of the values given for a key (every one
// for label).
func parseImageFilters(fs []string) (func(*storage.Image) bool, error) {
	keys := map[string][]func(*storage.Image) bool{}
	for _, f := range fs {
		key, value, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("invalid image filter %q: want KEY=VALUE", f)
		}
		var m func(*storage.Image) bool
		switch key {
		case "label":
			m = func(im *storage.Image) bool { return index.MatchLabel(im.Config.Labels, value) }
		case "dangling":
			want, err := strconv.ParseBool(value)
			if err != nil {
				return nil, fmt.Errorf("invalid dangling filter %q: want true or false", value)
			}
			m = func(im *storage.Image) bool { return (len(im.Names) == 0) == want }
		case "reference":
			if _, err := path.Match(value, ""); err != nil {
				return nil, fmt.Errorf("invalid reference filter %q: %v", value, err)
			}
			m = func(im *storage.Image) bool { return referenceMatch(im, value) }
		default:
			return nil, fmt.Errorf("unsupported image filter %q: usandbox knows label, dangling and reference", key)
		}
		if key == "label" {
			// podman ANDs label filters: each is a key of its own.
			key = f
		}
		keys[key] = append(keys[key], m)
	}
	return func(im *storage.Image) bool {
		for _, ms := range keys {
			hit := false
			for _, m := range ms {
				hit = hit || m(im)
			}
			if !hit {
				return false
			}
		}
		return true
	}, nil
}

// referenceMatch: one of the image's names matches pattern as podman
// matches it, the whole name or the name after its registry and path
// parts ("busybox", "*box", "localhost/busy*", "busybox:latest").
func referenceMatch(im *storage.Image, pattern string) bool {
	for _, n := range im.Names {
		if index.NameMatches(n, pattern) {
			return true
		}
		repo, tag := splitName(n)
		for _, cand := range []string{n, repo, repo + ":" + tag, lastPath(repo), lastPath(repo) + ":" + tag} {
			if ok, _ := path.Match(pattern, cand); ok {
				return true
			}
		}
	}
	return false
}

func lastPath(repo string) string { return repo[strings.LastIndex(repo, "/")+1:] }

func filterImages(ims []*storage.Image, match func(*storage.Image) bool) []*storage.Image {
	var out []*storage.Image
	for _, im := range ims {
		if match(im) {
			out = append(out, im)
		}
	}
	return out
}
