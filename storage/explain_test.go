package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"go.podman.io/image/v5/transports/alltransports"
	"go.podman.io/image/v5/types"
)

// sourceErr is the error of opening ref and reading its manifest, the
// first steps of a pull, as containers/image wraps it.
func sourceErr(t *testing.T, ref string, sys *types.SystemContext) error {
	t.Helper()
	r, err := alltransports.ParseImageName(ref)
	if err != nil {
		t.Fatal(err)
	}
	is, err := r.NewImageSource(context.Background(), sys)
	if err != nil {
		return err
	}
	defer is.Close()
	_, _, err = is.GetManifest(context.Background(), nil)
	return err
}

// TestExplain: the hint a failed pull gets comes from the error's type
// (registry error codes, errnos, net errors), not from words in its text,
// which a path or a registry's message can hold too.
func TestExplain(t *testing.T) {
	// An in-process registry (hermetic: nothing leaves 127.0.0.1), plain
	// http.
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	reg := strings.TrimPrefix(srv.URL, "http://")
	plain := &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue}
	// A port where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	// An OCI layout without the tag asked for.
	layout := t.TempDir()
	for name, content := range map[string]string{
		"oci-layout": `{"imageLayoutVersion":"1.0.0"}`,
		"index.json": `{"schemaVersion":2,"manifests":[]}`,
	} {
		if err := os.WriteFile(filepath.Join(layout, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dialErr := func(err error) error {
		return fmt.Errorf("pinging container registry r.example: %w", &url.Error{Op: "Get", URL: "https://r.example/v2/",
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}})
	}

	const noImage = "(no such image: check the name and tag)"
	const unreachable = "(registry unreachable: check the address and your network)"
	const plainHTTP = "(the registry speaks plain http: add --tls-verify=false)"
	for _, tt := range []struct {
		name string
		err  error
		hint string // "" for none
	}{
		{"unknown repository", sourceErr(t, "docker://"+reg+"/no-such-image:latest", plain), noImage},
		{"unknown tag in a layout", sourceErr(t, "oci:"+layout+":latest", nil), noImage},
		{"connection refused", sourceErr(t, "docker://"+closed+"/busybox:latest", plain), unreachable},
		{"plain http without the flag", sourceErr(t, "docker://"+reg+"/busybox:latest", nil), plainHTTP},
		{"no route to host", dialErr(os.NewSyscallError("connect", syscall.EHOSTUNREACH)), unreachable},
		{"network unreachable", dialErr(os.NewSyscallError("connect", syscall.ENETUNREACH)), unreachable},
		{"no such host", dialErr(&net.DNSError{Err: "no such host", Name: "r.example", IsNotFound: true}), unreachable},
		{"i/o timeout", dialErr(os.ErrDeadlineExceeded), unreachable},
		// Words of a hint in a path or a message are not that hint.
		{"a path with the words", fmt.Errorf("layer sha256:1: %w: /srv/not found/connection refused", ErrDigestMismatch), ""},
		{"a registry message with the words", errors.New("received unexpected HTTP status: 500 manifest unknown, name unknown, not found"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("no error to explain")
			}
			got := explain(tt.err).Error()
			for _, h := range []string{noImage, unreachable, plainHTTP} {
				if has := strings.Contains(got, h); has != (h == tt.hint) {
					t.Errorf("explain(%q) = %q: hint %q %v, want %v", tt.err, got, h, has, !has)
				}
			}
			if !strings.HasPrefix(got, tt.err.Error()) {
				t.Errorf("explain(%q) = %q, lost the error", tt.err, got)
			}
		})
	}
	if got := explain(fmt.Errorf("layer x: %w", context.Canceled)).Error(); !strings.HasPrefix(got, "interrupted") {
		t.Errorf("a cancelled pull: %q", got)
	}
}
