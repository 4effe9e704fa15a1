package storage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"go.podman.io/storage/pkg/archive"
)

// RuntimePaths are what the runtime makes in every sandbox as mount points
// (of /proc, /dev, the generated /etc files, secrets): when no layer below
// has them, their empty stand-ins in a sandbox's upper directory are the
// runtime's, not the command's, and are not committed (as podman and
// buildah leave them out).
var RuntimePaths = []string{
	"dev", "proc", "sys", "run", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab",
	"run/.containerenv", "run/secrets", "run/notify",
}

// UpperTar is the layer a sandbox's upper directory holds, as a tar with
// docker's whiteouts (overlay's 0/0 devices and opaque directories
// converted, as storage's overlay driver does it). lowers are the layers
// below, top first. The walk opens nothing through a symlink: what the
// sandbox made is read as it is, never followed to the host.
func UpperTar(upper string, lowers []string) (io.ReadCloser, error) {
	if fi, err := os.Lstat(upper); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("storage: the sandbox's upper directory %s: not a directory (%v)", upper, err)
	}
	var exclude []string
	for _, p := range RuntimePaths {
		if !inLowers(lowers, p) {
			exclude = append(exclude, p)
		}
	}
	return archive.TarWithOptions(upper, &archive.TarOptions{
		Compression:     archive.Uncompressed,
		WhiteoutFormat:  archive.OverlayWhiteoutFormat,
		WhiteoutData:    lowers,
		ExcludePatterns: exclude,
	})
}

// inLowers reports whether a layer of lowers has p, resolved inside the
// layer.
func inLowers(lowers []string, p string) bool {
	for _, l := range lowers {
		full, err := securejoin.SecureJoin(l, p)
		if err != nil || !strings.HasPrefix(full, filepath.Clean(l)+"/") {
			continue
		}
		if _, err := os.Lstat(full); err == nil {
			return true
		}
	}
	return false
}
