package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/urfave/cli/v3"

	"usandbox/internal/cliutil"
	"usandbox/internal/format"
)

// versionInfo is podman's version record (podman version --format json:
// {"Client": {...}}); the field names are what templates use.
type versionInfo struct {
	APIVersion string `json:"APIVersion"`
	Version    string `json:"Version"`
	GoVersion  string `json:"GoVersion"`
	GitCommit  string `json:"GitCommit"`
	BuiltTime  string `json:"BuiltTime"`
	Built      int64  `json:"Built"`
	OsArch     string `json:"OsArch"`
	Os         string `json:"Os"`
}

type versionReport struct {
	Client *versionInfo `json:"Client"`
}

func currentVersion() *versionInfo {
	// No build time is recorded: Built is 0, which podman prints as the
	// epoch too.
	return &versionInfo{
		APIVersion: version, Version: version, GoVersion: runtime.Version(),
		BuiltTime: time.Unix(0, 0).UTC().Format(time.ANSIC), OsArch: runtime.GOOS + "/" + runtime.GOARCH, Os: runtime.GOOS,
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print usandbox's version",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "json or a Go template such as '{{.Client.Version}}'"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "version takes no arguments")
			}
			v := currentVersion()
			if f := cmd.String("format"); f != "" {
				return printOne("version", f, versionReport{Client: v})
			}
			for _, l := range [][2]string{
				{"Client:", "usandbox"}, {"Version:", v.Version}, {"API Version:", v.APIVersion},
				{"Go Version:", v.GoVersion}, {"Built:", v.BuiltTime}, {"OS/Arch:", v.OsArch},
			} {
				fmt.Printf("%-14s%s\n", l[0], l[1])
			}
			return nil
		},
	}
}

// printOne prints one record through --format f: JSON as one object
// (not a list), else the template once.
func printOne(name, f string, v any) error {
	t, err := format.Parse(name, f)
	if err != nil {
		return err
	}
	if t.IsJSON() {
		return format.PrintJSON(os.Stdout, v)
	}
	return t.Execute(os.Stdout, []any{v}, nil)
}

// infoReport is podman's info record, of what usandbox has: the field
// names are podman's (templates: {{.Host.Arch}}, {{.Store.GraphRoot}}),
// as are the JSON keys.
type infoReport struct {
	Host       infoHost       `json:"host"`
	Store      infoStore      `json:"store"`
	Registries map[string]any `json:"registries"`
	Version    *versionInfo   `json:"version"`
}

type infoHost struct {
	Arch           string       `json:"arch"`
	CgroupManager  string       `json:"cgroupManager"`
	CgroupsVersion string       `json:"cgroupVersion"`
	CPUs           int          `json:"cpus"`
	Hostname       string       `json:"hostname"`
	IDMappings     idMappings   `json:"idMappings"`
	Kernel         string       `json:"kernel"`
	OS             string       `json:"os"`
	Security       infoSecurity `json:"security"`
}

type idMappings struct {
	GIDMap []idMap `json:"gidmap"`
	UIDMap []idMap `json:"uidmap"`
}

type idMap struct {
	ContainerID uint32 `json:"container_id"`
	HostID      uint32 `json:"host_id"`
	Size        uint32 `json:"size"`
}

type infoSecurity struct {
	Rootless       bool `json:"rootless"`
	SECCOMPEnabled bool `json:"seccompEnabled"`
}

type infoStore struct {
	ContainerStore  containerStore `json:"containerStore"`
	GraphDriverName string         `json:"graphDriverName"`
	GraphRoot       string         `json:"graphRoot"`
	ImageStore      imageStore     `json:"imageStore"`
	RunRoot         string         `json:"runRoot"`
}

type containerStore struct {
	Number  int `json:"number"`
	Paused  int `json:"paused"`
	Running int `json:"running"`
	Stopped int `json:"stopped"`
}

type imageStore struct {
	Number int `json:"number"`
}

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:  "info",
		Usage: "show the host as usandbox sees it and what the store holds",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "json or a Go template such as '{{.Host.Arch}}'"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return cliutil.UsageError(cmd, "info takes no arguments")
			}
			f := cmd.String("format")
			if f != "" {
				if _, err := format.Parse("info", f); err != nil {
					return err
				}
			}
			e, err := engine(cmd)
			if err != nil {
				return err
			}
			in, err := e.Info(ctx)
			if err != nil {
				return err
			}
			regs, err := registries(cmd)
			if err != nil {
				return err
			}
			r := infoReport{
				Host: infoHost{
					Arch: in.Arch, CgroupManager: "cgroupfs", CgroupsVersion: in.CgroupVersion, CPUs: in.CPUs,
					Hostname: in.Hostname, Kernel: in.Kernel, OS: in.OS,
					IDMappings: idMappings{GIDMap: []idMap{}, UIDMap: []idMap{}},
					Security:   infoSecurity{Rootless: in.Rootless, SECCOMPEnabled: true},
				},
				Store: infoStore{
					ContainerStore:  containerStore{Number: in.Sandboxes, Running: in.Running, Stopped: in.Stopped},
					GraphDriverName: in.GraphDriver, GraphRoot: in.Paths.StorageRoot(), RunRoot: in.Paths.StorageRunRoot(),
					ImageStore: imageStore{Number: in.Images},
				},
				Registries: regs,
				Version:    currentVersion(),
			}
			for _, m := range in.UIDMap {
				r.Host.IDMappings.UIDMap = append(r.Host.IDMappings.UIDMap, idMap{m.ContainerID, m.HostID, m.Size})
			}
			for _, m := range in.GIDMap {
				r.Host.IDMappings.GIDMap = append(r.Host.IDMappings.GIDMap, idMap{m.ContainerID, m.HostID, m.Size})
			}
			if f == "" {
				return format.PrintYAML(os.Stdout, r)
			}
			return printOne("info", f, r)
		},
	}
}

// registries asks usandbox-image what registries.conf says (usandbox
// does not link the parser): podman's info "registries", {"search": […]}.
func registries(cmd *cli.Command) (map[string]any, error) {
	path, err := cliutil.ImageTool()
	if err != nil {
		return nil, err
	}
	c := exec.Command(path, imageToolArgs(cmd, "system", "registries")...)
	c.Args[0] = "usandbox"
	c.Stderr = os.Stderr
	b, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("reading registries.conf: %w", err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("reading registries.conf: %w", err)
	}
	return out, nil
}
