package lifecycle

import (
	"context"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"usandbox/cgroupv2"
	"usandbox/storage/index"
	"usandbox/userns"
)

// Info is what `usandbox info` reports: the host as usandbox sees it and
// what the store holds.
type Info struct {
	Arch, OS, Kernel, Hostname string
	CPUs                       int
	// CgroupVersion is "v2" on a cgroup v2 only host, "v1" on a hybrid or
	// legacy one (podman's), CgroupLayout usandbox's name for it.
	CgroupVersion, CgroupLayout string
	// Rootless: usandbox runs as an ordinary user, in a user namespace.
	Rootless bool
	// UIDMap and GIDMap are the user namespace's maps (none as root).
	UIDMap, GIDMap []userns.IDMap
	Paths          index.Paths
	// GraphDriver is the store's driver ("overlay" before any pull).
	GraphDriver string
	// Sandboxes by state, and images.
	Running, Stopped, Sandboxes, Images int
}

// Info reports on the host and the store.
func (e *Engine) Info(ctx context.Context) (*Info, error) {
	in := &Info{Arch: runtime.GOARCH, OS: runtime.GOOS, CPUs: runtime.NumCPU(), Paths: e.paths, Rootless: os.Geteuid() != 0}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		in.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	in.Hostname, _ = os.Hostname()
	cg, err := cgroupv2.Detect()
	if err != nil {
		return nil, err
	}
	in.CgroupLayout, in.CgroupVersion = cg.Layout, "v1"
	if cg.Layout == cgroupv2.Unified {
		in.CgroupVersion = "v2"
	}
	if in.Rootless {
		plan, err := e.plan()
		if err != nil {
			return nil, err
		}
		in.UIDMap, in.GIDMap = plan.UIDMap, plan.GIDMap
	}
	ix, err := index.Read(e.paths)
	if err != nil {
		return nil, err
	}
	in.GraphDriver, in.Images = ix.Driver, len(ix.Images)
	if in.GraphDriver == "" {
		in.GraphDriver = "overlay"
	}
	list, err := e.List(ctx, ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	in.Sandboxes = len(list)
	for _, sb := range list {
		if sb.State.Running {
			in.Running++
		} else {
			in.Stopped++
		}
	}
	return in, nil
}

// Images are the store's images, as its index lists them.
func (e *Engine) Images() ([]*index.Image, error) {
	ix, err := index.Read(e.paths)
	if err != nil {
		return nil, err
	}
	return ix.Images, nil
}

// Image is an image of the store, as its index describes it.
type Image = index.Image
