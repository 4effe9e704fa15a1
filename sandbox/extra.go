package sandbox

import (
	"strings"
)

// Extra is what a sandbox was created with beyond what its spec says:
// labels, the lines added to its /etc/hosts and /etc/resolv.conf, how it
// is stopped, the ports it exposes. It is kept in the record as docker's
// Config and HostConfig name it, for inspect.
type Extra struct {
	// Labels are the image's labels with --label and --label-file over
	// them.
	Labels map[string]string `json:"Labels,omitempty"`
	// ExtraHosts are --add-host's NAME:IP, checked, first in /etc/hosts.
	ExtraHosts []string `json:"ExtraHosts,omitempty"`
	// DNSSearch and DNSOptions are --dns-search and --dns-option: the
	// search and options lines of /etc/resolv.conf. DNSSearch ["."]
	// means no search domains.
	DNSSearch  []string `json:"DnsSearch,omitempty"`
	DNSOptions []string `json:"DnsOptions,omitempty"`
	// StopSignal is the signal stop sends first (--stop-signal, or the
	// image's StopSignal), as a name; "" is SIGTERM.
	StopSignal string `json:"StopSignal,omitempty"`
	// StopTimeout is --stop-timeout: stop's grace period in seconds when
	// stop, restart and rm -f are not given -t; nil is their default.
	StopTimeout *int `json:"StopTimeout,omitempty"`
	// ExposedPorts are the image's and --expose's ports, "80/tcp".
	ExposedPorts []string `json:"ExposedPorts,omitempty"`
	// Timeout is run's --timeout in seconds (0: none): the sandbox is
	// killed after it has run that long, and exits 255, as podman's.
	Timeout int `json:"Timeout,omitempty"`
}

// TimeoutStatus is the exit status of a sandbox killed by its --timeout,
// podman's.
const TimeoutStatus = 255

// hostsLines are the lines --add-host puts first in /etc/hosts, as
// podman does.
func (x *Extra) hostsLines() string {
	var b strings.Builder
	for _, h := range x.ExtraHosts {
		// Checked at create: NAME:IP, the IP possibly an IPv6 address.
		name, ip, _ := strings.Cut(h, ":")
		b.WriteString(ip + "\t" + name + "\n")
	}
	return b.String()
}

// resolvConf is resolv with the search and options lines of --dns-search
// and --dns-option instead of its own, as podman writes it: search first,
// then the name servers (and whatever else resolv had), options last.
func (x *Extra) resolvConf(resolv string) string {
	if len(x.DNSSearch) == 0 && len(x.DNSOptions) == 0 {
		return resolv
	}
	var search, options, rest []string
	for _, l := range strings.Split(resolv, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case f[0] == "search" || f[0] == "domain":
			search = append(search, f[1:]...)
		case f[0] == "options":
			options = append(options, f[1:]...)
		default:
			rest = append(rest, l)
		}
	}
	if len(x.DNSSearch) > 0 {
		search = nil
		if !(len(x.DNSSearch) == 1 && x.DNSSearch[0] == ".") {
			search = x.DNSSearch
		}
	}
	if len(x.DNSOptions) > 0 {
		options = x.DNSOptions
	}
	var b strings.Builder
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	for _, l := range rest {
		b.WriteString(l + "\n")
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	return b.String()
}
