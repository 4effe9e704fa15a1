package docker

import (
	"net/netip"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"

	"usandbox/sandbox"
	"usandbox/storage/index"
)

// ContainerSummary is sb as docker's container list (GET
// /containers/json) shows it.
func ContainerSummary(sb *sandbox.Sandbox, now time.Time) container.Summary {
	out := container.Summary{
		ID: sb.ID, Names: []string{"/" + sb.Name}, Image: sb.Image, ImageID: "sha256:" + sb.ImageID,
		Command: strings.Join(sb.Command, " "), Created: sb.Created.Unix(),
		Ports: []container.PortSummary{}, Labels: map[string]string{},
		State: container.ContainerState(sb.State.Status), Status: sb.StatusString(now),
		Mounts: []container.MountPoint{},
	}
	if sb.Damaged() != nil {
		out.State = container.StateDead
		return out
	}
	for k, v := range sb.Labels {
		out.Labels[k] = v
	}
	for _, p := range sb.Ports {
		ps := container.PortSummary{PrivatePort: uint16(p.Container), PublicPort: uint16(p.HostPort), Type: p.Proto}
		if a, err := netip.ParseAddr(p.HostIP); err == nil {
			ps.IP = a
		} else {
			ps.IP = netip.IPv4Unspecified()
		}
		out.Ports = append(out.Ports, ps)
	}
	out.HostConfig.NetworkMode = string(networkMode(sb))
	out.NetworkSettings = &container.NetworkSettingsSummary{Networks: endpoints(sb)}
	for _, m := range sandbox.Volumes(&sb.Spec) {
		out.Mounts = append(out.Mounts, mountPoint(m))
	}
	return out
}

// ImageSummary is im as docker's image list (GET /images/json) shows it;
// containers is the number of sandboxes made from it.
func ImageSummary(im *index.Image, containers int) image.Summary {
	return image.Summary{
		ID: "sha256:" + im.ID, RepoTags: nonNil(im.Names), RepoDigests: nonNil(im.RepoDigests()),
		Created: im.Created.Unix(), Size: im.Size, Labels: nonNilMap(im.Config.Labels),
		Containers: int64(containers),
	}
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
