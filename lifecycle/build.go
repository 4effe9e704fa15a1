package lifecycle

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// BuildOptions are a build's (podman build's flags).
type BuildOptions struct {
	// Context is the context directory; Dockerfile the file in it (""
	// for Containerfile or Dockerfile).
	Context, Dockerfile string
	Tags                []string
	Args, Labels        map[string]string
	Target, Network     string
	NoCache, Pull       bool
}

// ErrBuildRun is wrapped when a RUN of a build failed (podman's exit 1).
var ErrBuildRun = errors.New("a RUN of the build failed")

// Build builds an image with usandbox-image's build, writing its steps
// and RUN's output to out line by line, and returns the image's ID.
func (e *Engine) Build(ctx context.Context, o BuildOptions, out io.Writer) (string, error) {
	if e.ImageTool == "" {
		return "", ErrNoImageTool
	}
	args := []string{"--root", e.paths.Root, "--runroot", e.paths.RunRoot, "build"}
	for _, t := range o.Tags {
		args = append(args, "--tag", t)
	}
	if o.Dockerfile != "" {
		args = append(args, "--file", o.Dockerfile)
	}
	for k, v := range o.Args {
		args = append(args, "--build-arg", k+"="+v)
	}
	for k, v := range o.Labels {
		args = append(args, "--label", k+"="+v)
	}
	if o.Target != "" {
		args = append(args, "--target", o.Target)
	}
	if o.Network != "" {
		args = append(args, "--network", o.Network)
	}
	if o.NoCache {
		args = append(args, "--no-cache")
	}
	if o.Pull {
		args = append(args, "--pull")
	}
	args = append(args, "--", o.Context)
	cmd := exec.CommandContext(ctx, e.ImageTool, args...)
	cmd.Args[0] = "usandbox"
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	var lastErr string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if msg, ok := strings.CutPrefix(line, "Error: "); ok {
				lastErr = msg
				continue
			}
			fmt.Fprintln(out, line)
		}
		io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		if lastErr == "" {
			lastErr = err.Error()
		}
		if strings.HasPrefix(lastErr, "building at STEP") {
			return "", fmt.Errorf("%w: %s", ErrBuildRun, lastErr)
		}
		return "", as(ErrInvalid, errors.New(lastErr))
	}
	id := strings.TrimSpace(stdout.String())
	if len(id) != 64 {
		return "", fmt.Errorf("usandbox-image build printed %q, not an image ID", id)
	}
	return id, nil
}

// ParseJSONMap decodes docker's buildargs and labels parameters: a JSON
// object of strings ("" is none); a null value (an ARG without a value)
// is dropped.
func ParseJSONMap(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]*string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out, nil
}
