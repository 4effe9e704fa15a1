package archive

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The rules by which docker cp turns "copy SRC to DEST" into one tar
// stream and one extraction directory (moby's pkg/archive copy.go): the
// client stats the destination, renames the stream's entries, and has
// the stream extracted into the destination's directory.

// Errors of a copy that cannot be done, in docker's words.
var (
	ErrCannotCopyDir = errors.New("cannot copy directory")
	ErrDirNotExists  = errors.New("no such directory")
	ErrNotDirectory  = errors.New("not a directory")
)

// CopyInfo is one side of a copy.
type CopyInfo struct {
	Path       string
	Exists     bool
	IsDir      bool
	RebaseName string
}

func hasTrailingSep(p string) bool { return strings.HasSuffix(p, "/") }

func specifiesCurrentDir(p string) bool { return filepath.Base(p) == "." }

// SplitPathDirEntry splits p into its directory and last element; a path
// ending in "/." keeps "." as its last element.
func SplitPathDirEntry(p string) (dir, base string) {
	cleaned := filepath.Clean(p)
	if specifiesCurrentDir(p) {
		cleaned += "/."
	}
	return filepath.Dir(cleaned), filepath.Base(cleaned)
}

// PreserveTrailingDotOrSeparator gives cleaned the "/." or "/" that
// original ended with.
func PreserveTrailingDotOrSeparator(cleaned, original string) string {
	if specifiesCurrentDir(original) && !specifiesCurrentDir(cleaned) {
		if !hasTrailingSep(cleaned) {
			cleaned += "/"
		}
		cleaned += "."
	}
	if hasTrailingSep(original) && !hasTrailingSep(cleaned) {
		cleaned += "/"
	}
	return cleaned
}

// GetRebaseName is resolved with p's trailing "/." or "/", and the name
// the stream's entries must take when resolving changed p's last element.
func GetRebaseName(p, resolved string) (string, string) {
	var rebase string
	if specifiesCurrentDir(p) && !specifiesCurrentDir(resolved) {
		resolved += "/."
	}
	if hasTrailingSep(p) && !hasTrailingSep(resolved) {
		resolved += "/"
	}
	if filepath.Base(p) != filepath.Base(resolved) {
		rebase = filepath.Base(p)
	}
	return resolved, rebase
}

// ResolveHostSourcePath resolves a host source: every symlink with
// followLink, else only those before its last element.
func ResolveHostSourcePath(p string, followLink bool) (resolved, rebase string, err error) {
	if followLink {
		resolved, err = filepath.EvalSymlinks(p)
		if err != nil {
			return "", "", err
		}
		resolved, rebase = GetRebaseName(p, resolved)
		return resolved, rebase, nil
	}
	dir, base := filepath.Split(p)
	if dir == "" {
		dir = "."
	}
	rdir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", "", err
	}
	resolved = rdir + "/" + base
	if hasTrailingSep(p) && filepath.Base(p) != filepath.Base(resolved) {
		rebase = filepath.Base(p)
	}
	return resolved, rebase, nil
}

// CopyInfoSourcePath stats a host source.
func CopyInfoSourcePath(p string, followLink bool) (CopyInfo, error) {
	resolved, rebase, err := ResolveHostSourcePath(p, followLink)
	if err != nil {
		return CopyInfo{}, err
	}
	fi, err := os.Lstat(resolved)
	if err != nil {
		return CopyInfo{}, err
	}
	return CopyInfo{Path: resolved, Exists: true, IsDir: fi.IsDir(), RebaseName: rebase}, nil
}

// CopyInfoDestinationPath stats a host destination: a symlink there is
// followed (the copy goes where it leads); a missing destination needs
// an existing parent directory.
func CopyInfoDestinationPath(p string) (CopyInfo, error) {
	orig := p
	fi, err := os.Lstat(p)
	for n := 0; err == nil && fi.Mode()&os.ModeSymlink != 0; n++ {
		if n > 10 {
			return CopyInfo{}, errors.New("too many symlinks in " + orig)
		}
		var target string
		if target, err = os.Readlink(p); err != nil {
			return CopyInfo{}, err
		}
		if !filepath.IsAbs(target) {
			parent, _ := SplitPathDirEntry(p)
			target = filepath.Join(parent, target)
		}
		p = target
		fi, err = os.Lstat(p)
	}
	if err != nil {
		if !os.IsNotExist(err) {
			return CopyInfo{}, err
		}
		parent, _ := SplitPathDirEntry(p)
		pfi, err := os.Stat(parent)
		if err != nil {
			return CopyInfo{}, err
		}
		if !pfi.IsDir() {
			return CopyInfo{}, ErrNotDirectory
		}
		return CopyInfo{Path: p}, nil
	}
	return CopyInfo{Path: p, Exists: true, IsDir: fi.IsDir()}, nil
}

// PrepareArchiveCopy says into which directory the stream of src goes to
// make dst, and renames its entries as that needs.
func PrepareArchiveCopy(content io.Reader, src, dst CopyInfo) (string, io.ReadCloser, error) {
	dstDir, dstBase := SplitPathDirEntry(dst.Path)
	_, srcBase := SplitPathDirEntry(src.Path)
	if src.RebaseName != "" {
		srcBase = src.RebaseName
	}
	switch {
	case dst.Exists && dst.IsDir:
		return dst.Path, io.NopCloser(content), nil
	case dst.Exists && src.IsDir:
		return "", nil, ErrCannotCopyDir
	case !dst.Exists && !src.IsDir && hasTrailingSep(dst.Path):
		return "", nil, ErrDirNotExists
	}
	return dstDir, RebaseArchiveEntries(content, srcBase, dstBase), nil
}

// RebaseArchiveEntries renames the entries of a stream whose names start
// with oldBase to start with newBase.
func RebaseArchiveEntries(content io.Reader, oldBase, newBase string) io.ReadCloser {
	if oldBase == "/" {
		oldBase = "."
	}
	r, w := io.Pipe()
	go func() {
		tr, tw := tar.NewReader(content), tar.NewWriter(w)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				w.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				w.CloseWithError(err)
				return
			}
			h.Format = tar.FormatPAX
			h.Name = rebase(h.Name, oldBase, newBase)
			if h.Typeflag == tar.TypeLink {
				h.Linkname = rebase(h.Linkname, oldBase, newBase)
			}
			if err := tw.WriteHeader(h); err != nil {
				w.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				w.CloseWithError(err)
				return
			}
		}
	}()
	return r
}

// rebase renames name's first element, if it is old: docker replaces the
// first occurrence of old anywhere, which for a name under "." is wrong.
func rebase(name, old, newBase string) string {
	first, rest, _ := strings.Cut(name, "/")
	if first != old {
		return name
	}
	if rest == "" && strings.HasSuffix(name, "/") {
		return newBase + "/"
	}
	if rest == "" {
		return newBase
	}
	return newBase + "/" + rest
}
