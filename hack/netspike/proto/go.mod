module netspike

go 1.26.0

require (
	github.com/miekg/dns v1.1.73
	github.com/rootless-containers/rootlesskit/v3 v3.3.0
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5
)

require (
	github.com/containernetworking/plugins v1.9.1 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
