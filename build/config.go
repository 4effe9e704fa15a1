package build

import (
	"fmt"
	"strings"

	docker "github.com/fsouza/go-dockerclient"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/openshift/imagebuilder"
	"github.com/openshift/imagebuilder/dockerfile/parser"
)

// toDocker is an image config as imagebuilder's (docker's) container
// config.
func toDocker(c dockerspec.DockerOCIImageConfig) docker.Config {
	d := docker.Config{
		User: c.User, Env: c.Env, Cmd: c.Cmd, Entrypoint: c.Entrypoint, WorkingDir: c.WorkingDir,
		Labels: c.Labels, StopSignal: c.StopSignal, Volumes: c.Volumes, OnBuild: c.OnBuild, Shell: c.Shell,
		ArgsEscaped: c.ArgsEscaped, //nolint:staticcheck // kept as the image had it
	}
	if len(c.ExposedPorts) > 0 {
		d.ExposedPorts = map[docker.Port]struct{}{}
		for p := range c.ExposedPorts {
			d.ExposedPorts[docker.Port(p)] = struct{}{}
		}
	}
	if h := c.Healthcheck; h != nil {
		d.Healthcheck = &docker.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	return d
}

// fromDocker is the image config of imagebuilder's container config.
func fromDocker(d docker.Config) dockerspec.DockerOCIImageConfig {
	var c dockerspec.DockerOCIImageConfig
	c.User, c.Env, c.Cmd, c.Entrypoint, c.WorkingDir = d.User, d.Env, d.Cmd, d.Entrypoint, d.WorkingDir
	c.Labels, c.StopSignal, c.Volumes = d.Labels, d.StopSignal, d.Volumes
	c.OnBuild, c.Shell = d.OnBuild, d.Shell
	if len(c.OnBuild) == 0 {
		c.OnBuild = nil
	}
	if len(c.Entrypoint) == 0 {
		c.Entrypoint = nil
	}
	if len(d.ExposedPorts) > 0 {
		c.ExposedPorts = map[string]struct{}{}
		for p := range d.ExposedPorts {
			c.ExposedPorts[string(p)] = struct{}{}
		}
	}
	if h := d.Healthcheck; h != nil {
		c.Healthcheck = &dockerspec.HealthcheckConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	return c
}

// changeInstructions are what commit --change takes (podman's list).
var changeInstructions = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "healthcheck": true, "label": true,
	"onbuild": true, "stopsignal": true, "user": true, "volume": true, "workdir": true, "shell": true,
}

// ApplyChanges applies Dockerfile instructions (commit's --change) to an
// image config.
func ApplyChanges(cfg *dockerspec.DockerOCIImage, changes []string) error {
	b := imagebuilder.NewBuilder(nil)
	b.RunConfig = toDocker(cfg.Config)
	for _, ch := range changes {
		node, err := parser.Parse(strings.NewReader(ch))
		if err != nil {
			return fmt.Errorf("--change %q: %w", ch, err)
		}
		for _, child := range node.AST.Children {
			if !changeInstructions[strings.ToLower(child.Value)] {
				return fmt.Errorf("--change %q: %s cannot be changed: use CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, SHELL, STOPSIGNAL, USER, VOLUME or WORKDIR", ch, strings.ToUpper(child.Value))
			}
			step := b.Step()
			if err := step.Resolve(child); err != nil {
				return fmt.Errorf("--change %q: %w", ch, err)
			}
			if err := b.Run(step, imagebuilder.NoopExecutor, true); err != nil {
				return fmt.Errorf("--change %q: %w", ch, err)
			}
		}
	}
	c := fromDocker(*b.Config())
	c.ArgsEscaped = cfg.Config.ArgsEscaped //nolint:staticcheck // kept as the image had it
	cfg.Config = c
	return nil
}
