// Command dnstime times name lookups against a resolver (hack/bench's
// netmembers section runs it inside a member of a network): dnstime
// SERVER:PORT NAME N prints the median and the 99th percentile, in ms.
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: dnstime SERVER:PORT NAME N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "dnstime: N must be a positive number")
		os.Exit(2)
	}
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(os.Args[2]), dns.TypeA)
	var d []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		r, _, err := c.Exchange(m, os.Args[1])
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			fmt.Fprintf(os.Stderr, "dnstime: lookup %d of %s: %v %v\n", i, os.Args[2], err, r)
			os.Exit(1)
		}
		d = append(d, time.Since(start))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	fmt.Printf("%.3f %.3f\n", ms(d[len(d)/2]), ms(d[len(d)*99/100]))
}
