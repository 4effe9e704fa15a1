// Package sandbox starts and waits for sandboxes: it turns options and an
// image into a spec, prepares the sandbox's directory, starts its init
// (package inner) in new namespaces through nsexec, relays the terminal
// and signals, and returns the command's exit status.
package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"usandbox/sandbox/spec"
	"usandbox/storage/index"
)

// ErrNoCommand: neither the flags nor the image say what to run.
var ErrNoCommand = errors.New("no command specified: give one after the image, or use an image with a Cmd or Entrypoint")

// Argv is the command line docker runs: the entrypoint (the image's, or
// --entrypoint, which also drops the image's Cmd) followed by the
// arguments given (or the image's Cmd when none are). --entrypoint is
// one program, or an argv in JSON ('["sh","-c"]'), as podman takes it.
func Argv(cfg index.Config, entrypoint *string, args []string) ([]string, error) {
	ep := cfg.Entrypoint
	cmd := cfg.Cmd
	if entrypoint != nil {
		ep, cmd = nil, nil
		var list []string
		switch {
		case strings.HasPrefix(*entrypoint, "[") && json.Unmarshal([]byte(*entrypoint), &list) == nil:
			ep = list
		case *entrypoint != "":
			ep = []string{*entrypoint}
		}
	}
	if len(args) > 0 {
		cmd = args
	}
	argv := append(append([]string(nil), ep...), cmd...)
	if len(argv) == 0 {
		return nil, ErrNoCommand
	}
	return argv, nil
}

// MergeEnv returns base with each KEY=VALUE of over replacing or adding
// its key, in order (spec.MergeEnv).
func MergeEnv(base, over []string) []string { return spec.MergeEnv(base, over) }

// ParseEnv turns -e values into KEY=VALUE: "KEY" alone takes the value
// from usandbox's own environment (and is dropped if unset), as docker does.
func ParseEnv(values []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, v := range values {
		k, _, hasValue := strings.Cut(v, "=")
		if k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("invalid environment variable %q", v)
		}
		if !hasValue {
			val, ok := lookup(k)
			if !ok {
				continue
			}
			v = k + "=" + val
		}
		if strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("environment variable %s holds a NUL byte, which no program can be given", k)
		}
		if len(v) >= MaxEnvEntry {
			return nil, fmt.Errorf("environment variable %s is %d bytes: the kernel passes at most %d bytes per variable", k, len(v), MaxEnvEntry-1)
		}
		out = append(out, v)
	}
	return out, nil
}

// ReadEnvFile reads an --env-file: KEY=VALUE lines, # comments, blank
// lines, and bare KEY taken from the environment.
func ReadEnvFile(path string, lookup func(string) (string, bool)) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading env file: %w", err)
	}
	defer f.Close()
	return parseEnvFile(f, lookup)
}

func parseEnvFile(r io.Reader, lookup func(string) (string, bool)) ([]string, error) {
	var lines []string
	sc := bufio.NewScanner(r)
	// Longer lines than the kernel takes are refused by ParseEnv, with
	// the limit named.
	sc.Buffer(make([]byte, 64*1024), 2*MaxEnvEntry)
	n := 0
	for sc.Scan() {
		n++
		l := strings.TrimLeft(sc.Text(), " \t")
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.ContainsRune(l, 0) {
			return nil, fmt.Errorf("env file line %d holds a NUL byte: an environment variable cannot contain one", n)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("env file line %d is longer than the kernel takes for one variable (%d bytes)", n+1, MaxEnvEntry)
		}
		return nil, err
	}
	return ParseEnv(lines, lookup)
}

// MaxEnvEntry is the longest KEY=VALUE the kernel passes to a program
// (MAX_ARG_STRLEN, 32 pages).
const MaxEnvEntry = 32 * 4096

// ParseTmpfs parses --tmpfs DEST[:OPTIONS].
func ParseTmpfs(v string) (spec.Mount, error) {
	dest, opts, _ := strings.Cut(v, ":")
	if !strings.HasPrefix(dest, "/") {
		return spec.Mount{}, fmt.Errorf("invalid --tmpfs %q: the path must be absolute", v)
	}
	return spec.Mount{Type: "tmpfs", Destination: filepath.Clean(dest), Options: opts}, nil
}
