package docker

import (
	"net/netip"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"

	"usandbox/lifecycle"
	"usandbox/network/holder"
	"usandbox/sandbox"
	"usandbox/storage/index"
)

// Network is n as docker's network inspect (and list) shows it; members
// are the sandboxes attached to it now (its holder's members).
func Network(n *lifecycle.Network, members []holder.MemberStatus) network.Inspect {
	out := network.Inspect{Network: network.Network{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver,
		EnableIPv4: true, EnableIPv6: n.IPv6Enabled, Internal: n.Internal,
		IPAM:    network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}},
		Options: nonNilMap(n.Options), Labels: nonNilMap(n.Labels),
	}, Containers: map[string]network.EndpointResource{}}
	for _, s := range n.Subnets {
		var c network.IPAMConfig
		if p, err := netip.ParsePrefix(s.Subnet); err == nil {
			c.Subnet = p
		}
		if a, err := netip.ParseAddr(s.Gateway); err == nil {
			c.Gateway = a
		}
		out.IPAM.Config = append(out.IPAM.Config, c)
	}
	for _, m := range members {
		if !m.Attached {
			continue
		}
		r := network.EndpointResource{Name: m.Name}
		if a, err := netip.ParseAddr(m.Address.IP); err == nil {
			r.IPv4Address = netip.PrefixFrom(a, m.Address.Prefix)
		}
		out.Containers[m.ID] = r
	}
	return out
}

// Volume is v as docker's volume inspect shows it; usage, if not nil,
// is its UsageData (system df).
func Volume(v *lifecycle.Volume, usage *volume.UsageData) volume.Volume {
	return volume.Volume{
		Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, CreatedAt: Time(v.CreatedAt),
		Labels: nonNilMap(v.Labels), Scope: v.Scope, Options: nonNilMap(v.Options), UsageData: usage,
	}
}

// DiskUsage is API 1.41's answer to GET /system/df (docker 20.10's
// types.DiskUsage), which the API module no longer has: it now answers
// with per-kind summaries, and docker 20.10's system df reads these lists.
type DiskUsage struct {
	LayersSize int64
	Images     []DiskUsageImage
	Containers []container.Summary
	Volumes    []volume.Volume
	BuildCache []struct{}
}

// DiskUsageImage is an image of DiskUsage: API 1.41 still had
// VirtualSize, which docker 20.10's system df counts with.
type DiskUsageImage struct {
	image.Summary
	VirtualSize int64
}

// SystemDF is lifecycle's DiskUsage in API 1.41's shape: images, sandboxes
// and volumes are those the usage lists (by ID, ID and name), looked up
// in ims, sbs and vols. Layers two images share count twice, as in
// lifecycle's DiskUsage (SharedSize 0).
func SystemDF(usage []lifecycle.Usage, ims []*index.Image, sbs []*sandbox.Sandbox, vols []*lifecycle.Volume, now time.Time) DiskUsage {
	out := DiskUsage{Images: []DiskUsageImage{}, Containers: []container.Summary{}, Volumes: []volume.Volume{}, BuildCache: []struct{}{}}
	imByID := map[string]*index.Image{}
	for _, im := range ims {
		imByID[im.ID] = im
	}
	sbByID := map[string]*sandbox.Sandbox{}
	for _, sb := range sbs {
		sbByID[sb.ID] = sb
	}
	volByName := map[string]*lifecycle.Volume{}
	for _, v := range vols {
		volByName[v.Name] = v
	}
	for _, u := range usage {
		for _, it := range u.Items {
			switch u.Type {
			case "Images":
				if im := imByID[it.ID]; im != nil {
					out.LayersSize += it.Size
					out.Images = append(out.Images, DiskUsageImage{ImageSummary(im, it.Users), it.Size})
				}
			case "Containers":
				if sb := sbByID[it.ID]; sb != nil {
					c := ContainerSummary(sb, now)
					c.SizeRw = it.Size
					if im := imByID[sb.ImageID]; im != nil {
						c.SizeRootFs = it.Size + im.Size
					}
					out.Containers = append(out.Containers, c)
				}
			case "Local Volumes":
				if v := volByName[it.ID]; v != nil {
					out.Volumes = append(out.Volumes, Volume(v, &volume.UsageData{RefCount: int64(it.Users), Size: it.Size}))
				}
			}
		}
	}
	return out
}
