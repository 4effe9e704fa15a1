package build

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/moby/patternmatcher"
)

// ErrNoSource is wrapped when a COPY or ADD source matches nothing.
var ErrNoSource = errors.New("no such file in the build context (or it is excluded by .dockerignore)")

// ErrOutside is wrapped when a source names a path outside its root.
var ErrOutside = errors.New("outside the build context")

// source is one thing a COPY copies: a path inside its root (the
// context, or an image's root) and what is there, not followed if it is
// a symlink (except a source named directly, which is followed inside
// the root, as docker does).
type source struct {
	// rel is the path in the root ("." for the root itself), as named;
	// real is where it is, its symlinks resolved (walked, and matched
	// against the excludes, so that a symlink to an excluded path does
	// not bring it in).
	rel, real string
	fi        fs.FileInfo
}

// sources expands the COPY sources srcs (wildcards allowed) in root,
// leaving out what excludes (.dockerignore patterns) match. Every source
// must match something. os.Root keeps every path inside root: a "../x"
// or a symlink out is refused.
func sources(root *os.Root, srcs []string, excludes []string) ([]source, *patternmatcher.PatternMatcher, error) {
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return nil, nil, fmt.Errorf("reading .dockerignore: %w", err)
	}
	var out []source
	for _, s := range srcs {
		rel := path.Clean("/" + s)[1:]
		if rel == "" {
			rel = "."
		}
		if strings.HasPrefix(path.Clean(s), "..") {
			return nil, nil, fmt.Errorf("%s: %w", s, ErrOutside)
		}
		var matches []string
		if strings.ContainsAny(rel, "*?[") {
			if matches, err = fs.Glob(root.FS(), rel); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", s, err)
			}
		} else {
			matches = []string{rel}
		}
		n := 0
		for _, m := range matches {
			if m != "." {
				if ex, _ := pm.MatchesOrParentMatches(m); ex {
					continue
				}
			}
			fi, err := root.Stat(m)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				if strings.Contains(err.Error(), "escapes") {
					return nil, nil, fmt.Errorf("%s: %w", s, ErrOutside)
				}
				return nil, nil, fmt.Errorf("%s: %w", s, err)
			}
			real, err := resolveIn(root, m)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", s, err)
			}
			if ex, _ := pm.MatchesOrParentMatches(real); ex && real != "." {
				continue
			}
			out = append(out, source{rel: m, real: real, fi: fi})
			n++
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("%s: %w", s, ErrNoSource)
		}
	}
	return out, pm, nil
}

// resolveIn is p in root with its symlinks resolved, as a path in root;
// one that leads out is ErrOutside (os.Root has refused it already).
func resolveIn(root *os.Root, p string) (string, error) {
	done, todo := ".", strings.Split(p, "/")
	for links := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if done == "." {
				return "", fmt.Errorf("%s: %w", p, ErrOutside)
			}
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, c)
		fi, err := root.Lstat(next)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("%s: too many symlinks", p)
		}
		t, err := root.Readlink(next)
		if err != nil {
			return "", err
		}
		if path.IsAbs(t) {
			return "", fmt.Errorf("%s: %w", p, ErrOutside)
		}
		todo = append(strings.Split(t, "/"), todo...)
	}
	return done, nil
}

// walk calls fn for src and, if it is a directory, everything under it
// that excludes leave, parents first; symlinks under it are not followed.
func walk(root *os.Root, src source, pm *patternmatcher.PatternMatcher, fn func(rel string, fi fs.FileInfo) error) error {
	if !src.fi.IsDir() {
		return fn(src.rel, src.fi)
	}
	return fs.WalkDir(root.FS(), src.real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != src.real && p != "." {
			if ex, _ := pm.MatchesOrParentMatches(p); ex {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
		}
		var fi fs.FileInfo
		if p == src.real {
			fi = src.fi
		} else if fi, err = root.Lstat(p); err != nil {
			return err
		}
		return fn(p, fi)
	})
}

// Digest is the content digest of what a COPY of srcs from dir copies:
// every file's path under its source, mode, owner-free metadata and
// content, so that the layer cache misses when any of them changes.
func Digest(dir string, srcs, excludes []string) (string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", fmt.Errorf("opening the build context: %w", err)
	}
	defer root.Close()
	found, pm, err := sources(root, srcs, excludes)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, s := range found {
		var lines []string
		err := walk(root, s, pm, func(rel string, fi fs.FileInfo) error {
			line := fmt.Sprintf("%s %o %d", rel, fi.Mode(), fi.Size())
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				t, err := root.Readlink(rel)
				if err != nil {
					return err
				}
				line += " -> " + t
			case fi.Mode().IsRegular():
				f, err := root.Open(rel)
				if err != nil {
					return err
				}
				fh := sha256.New()
				_, err = io.Copy(fh, f)
				f.Close()
				if err != nil {
					return err
				}
				line += " " + hex.EncodeToString(fh.Sum(nil))
			}
			lines = append(lines, line)
			return nil
		})
		if err != nil {
			return "", err
		}
		sort.Strings(lines)
		fmt.Fprintf(h, "source %s\n%s\n", s.rel, strings.Join(lines, "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
