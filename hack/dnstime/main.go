// Command dnstime times name lookups against a resolver (hack/bench's
// netmembers section runs it inside a member of a network): dnstime
// SERVER:PORT NAME N [reuse] prints the median and the 99th percentile, in
// ms. Each lookup has a socket of its own (a connect each, as a stub
// resolver does), or with reuse all go over one: the bare UDP round trip.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

func main() {
	if len(os.Args) != 4 && (len(os.Args) != 5 || os.Args[4] != "reuse") {
		fmt.Fprintln(os.Stderr, "usage: dnstime SERVER:PORT NAME N [reuse]")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "dnstime: N must be a positive number")
		os.Exit(2)
	}
	c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(os.Args[2]), dns.TypeA)
	var conn *dns.Conn
	if len(os.Args) == 5 {
		var err error
		if conn, err = c.Dial(os.Args[1]); err != nil {
			fmt.Fprintf(os.Stderr, "dnstime: %v\n", err)
			os.Exit(1)
		}
	}
	exchange := func() (*dns.Msg, error) {
		if conn == nil {
			r, _, err := c.Exchange(m, os.Args[1])
			return r, err
		}
		r, _, err := c.ExchangeWithConn(m, conn)
		return r, err
	}
	var d []time.Duration
	lost := 0
	for i := 0; i < n; i++ {
		start := time.Now()
		r, err := exchange()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// UDP: a datagram lost on the way (a user-mode stack drops
			// some under load) is counted, not timed.
			lost++
			continue
		}
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			fmt.Fprintf(os.Stderr, "dnstime: lookup %d of %s: %v %v\n", i, os.Args[2], err, r)
			os.Exit(1)
		}
		d = append(d, time.Since(start))
	}
	if lost > n/100 {
		fmt.Fprintf(os.Stderr, "dnstime: %d of %d lookups of %s timed out\n", lost, n, os.Args[2])
		os.Exit(1)
	}
	if lost > 0 {
		fmt.Fprintf(os.Stderr, "dnstime: %d of %d lookups timed out (not counted)\n", lost, n)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	fmt.Printf("%.3f %.3f\n", ms(d[len(d)/2]), ms(d[len(d)*99/100]))
}
